-- How many objects the role owns, per database (pg_shdepend is shared: one query from any database).
-- $1 text: the role's name.
SELECT db.datname::text AS database, count(*)::int AS n
  FROM pg_shdepend d
  JOIN pg_roles r ON r.oid = d.refobjid
  JOIN pg_database db ON db.oid = d.dbid
 WHERE r.rolname = $1 AND d.deptype = 'o'
 GROUP BY 1 ORDER BY 1
