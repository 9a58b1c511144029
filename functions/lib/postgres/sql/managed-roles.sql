-- Every role that carries this project's marker, with what the access review needs to see drift: attributes this
-- project never grants, memberships, the creation record. The admin (its PostgreSQL 16+ creator's ADMIN OPTION on
-- the marker role is no membership) is never one of them.
-- $1 text: the marker role's name (MARKER_ROLE).
SELECT r.rolname::text AS name, r.rolcanlogin AS can_login, r.rolsuper AS superuser,
       array_remove(ARRAY[CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                           CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS privileged,
       shobj_description(r.oid, 'pg_authid') AS comment,
       ARRAY(SELECT DISTINCT g.rolname::text FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
              WHERE am.member = r.oid AND {{is-membership(am)}} ORDER BY 1) AS member_of
  FROM pg_roles r
 WHERE EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles mk ON mk.oid = m.roleid WHERE m.member = r.oid AND mk.rolname = $1 AND {{is-membership(m)}})
   AND r.rolname <> current_user
 ORDER BY 1
