-- Who granted the role each of its memberships: a REVOKE removes only the grants of the role that runs it, so
-- memberships the grantor role granted are revoked as the grantor.
-- $1 text: the role's name.
SELECT g.rolname::text AS role, gr.rolname::text AS grantor
  FROM pg_auth_members am
  JOIN pg_roles g ON g.oid = am.roleid
  JOIN pg_roles gr ON gr.oid = am.grantor
 WHERE am.member = (SELECT oid FROM pg_roles WHERE rolname = $1)
 ORDER BY 1, 2
