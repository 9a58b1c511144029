-- Which of the named roles exist (managed by this project or not).
-- $1 text[]: the role names.
SELECT rolname::text AS name FROM pg_roles WHERE rolname = ANY($1::text[]) ORDER BY 1
