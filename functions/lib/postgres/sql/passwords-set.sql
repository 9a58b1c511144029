-- Which of the roles have a password. pg_authid is readable by superusers only (on RDS by nobody): the caller asks
-- inside a savepoint and takes insufficient_privilege for "unknown", since the refusal would end the transaction.
-- $1 text[]: the role names.
SELECT rolname::text AS name FROM pg_authid WHERE rolpassword IS NOT NULL AND rolname = ANY($1::text[])
