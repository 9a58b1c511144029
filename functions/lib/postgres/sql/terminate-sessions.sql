-- Ends the sessions of a role, waiting up to 5 s for each to exit (PostgreSQL 14+; terminate-sessions-pg13.sql before).
-- $1 text: the role's name. The admin's own session is never ended.
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))::int AS terminated
  FROM pg_stat_activity
 WHERE usename = $1 AND pid <> pg_backend_pid()
