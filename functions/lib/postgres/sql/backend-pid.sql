-- The server process of this connection: what a watching connection asks pg_blocking_pids about.
-- No parameters.
SELECT pg_backend_pid() AS pid
