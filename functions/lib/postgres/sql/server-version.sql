-- The server's version as a number (PostgreSQL 16.4 is 160004): which statements apply depends on it.
-- No parameters.
SELECT current_setting('server_version_num')::int AS v
