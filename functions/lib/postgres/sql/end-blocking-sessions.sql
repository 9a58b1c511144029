-- Run from a second admin connection while the admin's session waits: ends the sessions it waits behind (holders,
-- and requests queued ahead of it: pg_blocking_pids) unless they are the admin's own sessions (other executions,
-- waited for) or a superuser's. Advisory keys are open to every login, and so are ordinary locks on anything a login
-- may read. pg_terminate_backend does not wait: the admin's request is already queued, so it is granted the moment
-- the session exits, before any newcomer. Each row says what was waited for, in which statement, for the audit trail.
-- $1 int: the waiting admin session's pid (backend-pid.sql).
SELECT a.pid,
       a.usename::text AS user,
       (SELECT string_agg(DISTINCT CASE w.locktype
                                     WHEN 'relation' THEN 'relation ' || w.relation::regclass::text
                                     WHEN 'advisory' THEN 'advisory key ' || ((w.classid::bigint << 32) | w.objid::bigint)
                                     ELSE w.locktype
                                   END || ' (' || w.mode || ')', ', ')
          FROM pg_locks w
         WHERE w.pid = $1 AND NOT w.granted)                            AS waited_for,
       (SELECT left(q.query, 200) FROM pg_stat_activity q WHERE q.pid = $1) AS statement,
       pg_terminate_backend(a.pid)                                      AS ended
  FROM pg_stat_activity a
  JOIN pg_roles r ON r.oid = a.usesysid -- background workers (autovacuum) have no role: never ended
 WHERE a.pid = ANY (pg_blocking_pids($1))
   AND NOT r.rolsuper
   AND r.rolname <> session_user
