-- The grantor role on PostgreSQL 16+: whether it exists, whether the admin may SET ROLE to it or grant itself that
-- (ADMIN OPTION: it created the role), and which of the roles $2 it holds ADMIN OPTION on. Read from its own
-- pg_auth_members rows only: asking pg_has_role about the admin would walk every role the admin created, which is
-- what the grantor is there to avoid.
-- $1 text: the grantor role's name (GRANTOR_ROLE). Always one row, all false when the role does not exist.
-- $2 text[]: the roles a request may grant or revoke.
SELECT g.oid IS NOT NULL AS grantor_exists,
       EXISTS (SELECT 1 FROM pg_auth_members am
                WHERE am.roleid = g.oid AND am.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                  AND am.set_option)                  AS admin_can_set,
       EXISTS (SELECT 1 FROM pg_auth_members am
                WHERE am.roleid = g.oid AND am.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                  AND am.admin_option)                AS admin_can_admin,
       ARRAY(SELECT r.rolname::text FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid
              WHERE am.member = g.oid AND am.admin_option AND r.rolname = ANY($2::text[])
              ORDER BY 1)                             AS admin_on,
       -- What would make it someone else's: any other member (its creator, if another role created it first), an
       -- attribute beyond NOLOGIN, a membership it could use (INHERIT or SET) rather than only grant.
       ARRAY(SELECT m.rolname::text FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
              WHERE am.roleid = g.oid AND m.rolname <> current_user ORDER BY 1) AS other_members,
       (g.rolcanlogin OR g.rolsuper OR g.rolcreaterole OR g.rolcreatedb OR g.rolreplication OR g.rolbypassrls) AS has_attributes,
       EXISTS (SELECT 1 FROM pg_auth_members am WHERE am.member = g.oid AND (am.inherit_option OR am.set_option)) AS uses_memberships
  FROM (SELECT NULL) one LEFT JOIN pg_roles g ON g.rolname = $1
