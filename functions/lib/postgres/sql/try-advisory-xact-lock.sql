-- Takes the key if it is free: the usual case, so no wait at all (advisory-xact-lock.sql waits).
-- $1 text: the project's key.
SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok
