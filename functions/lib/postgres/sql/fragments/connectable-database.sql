-- fragment: connectable-database()
-- A database a request may name: it exists, is no template and allows connections (the rule of
-- assertDatabasesExist in onboard.ts). The pg_database row is `d`.
NOT d.datistemplate AND d.datallowconn
