-- fragment: is-membership(am)
-- Whether the pg_auth_members row `am` makes its member a member. PostgreSQL 16+ records the creator of a role as
-- holding ADMIN OPTION on it without INHERIT or SET: that lets the creator grant the role, it does not make the
-- creator one of its members (so the admin is never "managed"). The two columns do not exist before 16 (NULL through
-- to_jsonb), where every membership counts.
-- am: the alias of a pg_auth_members row.
(NOT {{am}}.admin_option OR coalesce((to_jsonb({{am}}) ->> 'inherit_option')::boolean, true) OR coalesce((to_jsonb({{am}}) ->> 'set_option')::boolean, true))
