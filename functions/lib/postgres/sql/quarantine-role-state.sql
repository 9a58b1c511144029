-- The quarantine role as offboarding needs it: no attributes, no members, member of nothing (its objects run with its
-- rights, which must stay none).
-- $1 text: the quarantine role's name. No row: the role does not exist.
SELECT array_remove(ARRAY[CASE WHEN r.rolcanlogin THEN 'LOGIN' END, CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                          CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                          CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS attributes,
       ARRAY(SELECT DISTINCT m.rolname::text FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
              WHERE am.roleid = r.oid AND {{is-membership(am)}} ORDER BY 1)                              AS members,
       ARRAY(SELECT DISTINCT g.rolname::text FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
              WHERE am.member = r.oid ORDER BY 1)                                                         AS member_of
  FROM pg_roles r
 WHERE r.rolname = $1
