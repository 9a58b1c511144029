-- Who the connection is (the admin) and what that role may do; the server version decides which statements apply.
-- No parameters.
SELECT current_user                                   AS admin,
       r.rolsuper                                     AS superuser,
       r.rolcreaterole                                AS createrole,
       -- Ending the sessions that hold what the admin waits for (and the leaver's own) needs pg_signal_backend.
       r.rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS can_signal,
       current_setting('server_version_num')::int     AS version_num
  FROM pg_roles r
 WHERE r.rolname = current_user
