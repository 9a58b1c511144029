-- Serialises work on one role (or one database's ACL) across concurrent executions. Transaction-scoped: released at
-- COMMIT/ROLLBACK, so a crashed function never leaves it held. Concurrent GRANTs on one database otherwise fail with
-- "tuple concurrently updated".
-- $1 text: the project's key (lockKey in onboard.ts).
SELECT pg_advisory_xact_lock(hashtext($1))
