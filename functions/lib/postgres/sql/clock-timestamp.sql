-- The server's clock, not the transaction's start (now()): when a grant's end committed, on the clock that
-- pg_stat_activity's backend_start uses, so the sessions begun before it can be counted.
-- No parameters.
SELECT clock_timestamp() AS now
