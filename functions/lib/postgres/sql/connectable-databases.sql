-- Which of the named databases a request may name exist (a request's acceptance: no user is involved yet).
-- $1 text[]: the database names.
SELECT d.datname::text AS name FROM pg_database d WHERE d.datname = ANY($1::text[]) AND {{connectable-database}}
