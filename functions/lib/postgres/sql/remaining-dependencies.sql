-- What still depends on the role, per database and kind (pg_shdepend is shared: visible from any database): why a
-- DROP ROLE failed, as offboarding reports it.
-- $1 text: the role's name.
SELECT coalesce(db.datname::text, '(shared)') AS database, d.deptype::text AS kind, count(*)::int AS n
  FROM pg_shdepend d
  JOIN pg_roles r ON r.oid = d.refobjid
  LEFT JOIN pg_database db ON db.oid = d.dbid
 WHERE r.rolname = $1
 GROUP BY 1, 2 ORDER BY 1, 2
