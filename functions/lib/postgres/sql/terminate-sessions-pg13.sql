-- terminate-sessions.sql for PostgreSQL 13, whose pg_terminate_backend has no timeout: it signals and returns.
-- $1 text: the role's name. The admin's own session is never ended.
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS terminated
  FROM pg_stat_activity
 WHERE usename = $1 AND pid <> pg_backend_pid()
