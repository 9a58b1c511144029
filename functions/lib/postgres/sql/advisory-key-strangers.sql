-- Sessions holding or awaiting an advisory key (single bigint form: objsubid 1) in this database that are neither the
-- admin's nor a superuser's: when there are none, the admin waits for its own other executions only.
-- $1 text: the project's key.
SELECT count(*)::int AS n
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
  JOIN pg_roles r ON r.oid = a.usesysid
 WHERE l.locktype = 'advisory'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.objsubid = 1
   AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint
   AND NOT r.rolsuper
   AND r.rolname <> session_user
