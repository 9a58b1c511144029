-- Databases whose pg_database row names the role (an explicit grant, or ownership): the rows that DROP OWNED and
-- REASSIGN OWNED rewrite, from whichever database they run in, so their keys are taken first.
-- $1 text: the role's name.
SELECT d.datname::text AS name
  FROM pg_database d
  JOIN pg_roles u ON u.rolname = $1
 WHERE d.datdba = u.oid OR EXISTS (SELECT 1 FROM {{acl-entries(d.datacl)}} a WHERE a.grantee = u.oid)
 ORDER BY 1
