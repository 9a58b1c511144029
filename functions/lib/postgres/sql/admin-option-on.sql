-- Which roles the admin can grant: ADMIN OPTION, which PostgreSQL 16+ requires even with CREATEROLE. On 16+ each row
-- walks every role the admin created, so it is asked only about the roles a request needs.
-- $1 text[]: the role names.
SELECT g.rolname,
       pg_has_role(current_user, g.oid, 'MEMBER WITH ADMIN OPTION') AS has_admin_option
  FROM pg_roles g
 WHERE g.rolname = ANY($1::text[])
