-- The sessions of a role that began before a time (the end of its grant): those the end must have ended. Sessions
-- begun later were opened after the revokes and NOLOGIN committed, so they are not the grant's.
-- $1 text: the role's name. $2 timestamptz: when the grant ended. The admin's own session is never counted.
SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND backend_start < $2 AND pid <> pg_backend_pid()
