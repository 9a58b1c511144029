-- The sessions a role still has (after terminate-sessions.sql: a survivor means the step is retried).
-- $1 text: the role's name.
SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1
