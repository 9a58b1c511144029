-- A database user as this project sees it: its login flag, comment (the creation record) and direct memberships.
-- $1 text: the role's name. No row: the role does not exist.
SELECT r.oid,
       r.rolcanlogin                                  AS can_login,
       r.rolsuper                                     AS superuser,
       shobj_description(r.oid, 'pg_authid')          AS comment,
       ARRAY(SELECT DISTINCT g.rolname::text
               FROM pg_auth_members am
               JOIN pg_roles g ON g.oid = am.roleid
              WHERE am.member = r.oid AND {{is-membership(am)}}
              ORDER BY 1)                             AS member_of
  FROM pg_roles r
 WHERE r.rolname = $1
