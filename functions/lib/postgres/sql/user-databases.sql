-- Every database whose objects REASSIGN OWNED and DROP OWNED must visit (RDS's own rdsadmin is not ours).
-- No parameters.
SELECT datname::text AS name FROM pg_database
 WHERE NOT datistemplate AND datallowconn AND datname <> 'rdsadmin'
 ORDER BY 1
