-- Databases where the role holds an explicit grant: DROP ROLE fails on those, so they are revoked first.
-- $1 text: the role's name.
SELECT d.datname::text AS name
  FROM pg_database d, {{acl-entries(d.datacl)}} a
 WHERE a.grantee = (SELECT u.oid FROM pg_roles u WHERE u.rolname = $1)
 GROUP BY d.datname
 ORDER BY 1
