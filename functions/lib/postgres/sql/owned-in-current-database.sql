-- How many objects the role owns in the database this connection is to.
-- $1 text: the role's name.
SELECT count(*)::int AS n
  FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
 WHERE r.rolname = $1 AND d.deptype = 'o'
   AND d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
