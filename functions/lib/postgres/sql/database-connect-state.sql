-- The requested databases: whether they exist, whether the admin may grant CONNECT on them, and whether the user
-- already holds CONNECT explicitly (PUBLIC's default grant does not count: some databases revoke it). The user's oid
-- is looked up once, not per ACL entry.
-- $1 text[]: the database names. $2 text: the database user (who may not exist yet).
SELECT d.datname::text                                                     AS name,
       has_database_privilege(d.oid, 'CONNECT WITH GRANT OPTION')          AS admin_can_grant,
       EXISTS (SELECT 1
                 FROM {{acl-entries(coalesce(d.datacl, acldefault('d', d.datdba)))}} a
                WHERE a.grantee = (SELECT u.oid FROM pg_roles u WHERE u.rolname = $2)
                  AND a.privilege_type = 'CONNECT')                        AS user_has_connect
  FROM pg_database d
 WHERE d.datname = ANY($1::text[]) AND {{connectable-database}}
