/**
 * The SQL this project runs, kept readable in one place. Values are bind parameters;
 * identifiers in DDL go through escapeIdentifier (see ddl.ts), never concatenation.
 */

/** Who we are connected as and what that role may do. */
export const ADMIN_CAPABILITIES = `
SELECT current_user                                   AS admin,
       r.rolsuper                                     AS superuser,
       r.rolcreaterole                                AS createrole,
       -- Ending the sessions that hold what the admin waits for (and the leaver's own) needs pg_signal_backend.
       r.rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS can_signal,
       current_setting('server_version_num')::int     AS version_num
  FROM pg_roles r
 WHERE r.rolname = current_user`;

/** Roles (by name) the admin can grant: ADMIN OPTION, which PostgreSQL 16+ requires even with CREATEROLE. */
export const ADMIN_OPTION_ON = `
SELECT g.rolname,
       pg_has_role(current_user, g.oid, 'MEMBER WITH ADMIN OPTION') AS has_admin_option
  FROM pg_roles g
 WHERE g.rolname = ANY($1::text[])`;

/**
 * Whether the pg_auth_members row `am` makes its member a member. PostgreSQL 16+ records the creator
 * of a role as holding ADMIN OPTION on it without INHERIT or SET: that lets the creator grant the role,
 * it does not make the creator one of its members (so the admin is never "managed"). The two columns
 * do not exist before 16 (NULL through to_jsonb), where every membership counts.
 */
export const IS_MEMBERSHIP = (am: string): string =>
  `(NOT ${am}.admin_option OR coalesce((to_jsonb(${am}) ->> 'inherit_option')::boolean, true) OR coalesce((to_jsonb(${am}) ->> 'set_option')::boolean, true))`;

/** A database user as this project sees it: its login flag, comment and direct memberships. */
export const ROLE_STATE = `
SELECT r.oid,
       r.rolcanlogin                                  AS can_login,
       r.rolsuper                                     AS superuser,
       shobj_description(r.oid, 'pg_authid')          AS comment,
       ARRAY(SELECT DISTINCT g.rolname::text
               FROM pg_auth_members am
               JOIN pg_roles g ON g.oid = am.roleid
              WHERE am.member = r.oid AND ${IS_MEMBERSHIP('am')}
              ORDER BY 1)                             AS member_of
  FROM pg_roles r
 WHERE r.rolname = $1`;

export const EXISTING_ROLES = `SELECT rolname::text AS name FROM pg_roles WHERE rolname = ANY($1::text[])`;

/**
 * The grantor role ($1, GRANTOR_ROLE) on PostgreSQL 16+: whether it exists, whether the admin may SET ROLE to it or
 * grant itself that (ADMIN OPTION: it created the role), and which of the roles $2 it holds ADMIN OPTION on. Read from its own pg_auth_members rows only: asking pg_has_role
 * about the admin would walk every role the admin created, which is what the grantor is there to avoid.
 */
export const GRANTOR_STATE = `
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
  FROM (SELECT NULL) one LEFT JOIN pg_roles g ON g.rolname = $1`;

/** Who granted the role $1 each of its memberships: a REVOKE removes only the grants of the role that runs it. */
export const MEMBERSHIP_GRANTORS = `
SELECT g.rolname::text AS role, gr.rolname::text AS grantor
  FROM pg_auth_members am
  JOIN pg_roles g ON g.oid = am.roleid
  JOIN pg_roles gr ON gr.oid = am.grantor
 WHERE am.member = (SELECT oid FROM pg_roles WHERE rolname = $1)
 ORDER BY 1, 2`;

/** A database a request may name: it exists, is no template and allows connections (the rule of assertDatabasesExist). */
const CONNECTABLE_DATABASE = `NOT d.datistemplate AND d.datallowconn`;

/**
 * The entries of a database ACL, one row per (grantee, privilege). `aclexplode(acl)` reads its argument again
 * for every row it returns, and a `datacl` of a few hundred grants is stored TOASTed, so it detoasted the
 * whole array per row: quadratic in the number of users holding CONNECT (measured: 145 ms at 1,000 grants,
 * 3.5 s at 5,000). `unnest` detoasts the array once and keeps it; each item is then exploded on its own,
 * which is linear (3-20 ms at 5,000). A MATERIALIZED CTE does not help: it keeps the TOAST pointer.
 */
export const ACL_ENTRIES = (acl: string): string => `unnest(${acl}) acl_item, aclexplode(ARRAY[acl_item])`;

/**
 * The requested databases: whether they exist, whether the admin may grant CONNECT on them,
 * and whether the user already holds CONNECT explicitly (PUBLIC's default grant does not
 * count: some databases revoke it). The user's oid is looked up once, not per ACL entry.
 */
export const DATABASE_CONNECT_STATE = `
SELECT d.datname::text                                                     AS name,
       has_database_privilege(d.oid, 'CONNECT WITH GRANT OPTION')          AS admin_can_grant,
       EXISTS (SELECT 1
                 FROM ${ACL_ENTRIES("coalesce(d.datacl, acldefault('d', d.datdba))")} a
                WHERE a.grantee = (SELECT u.oid FROM pg_roles u WHERE u.rolname = $2)
                  AND a.privilege_type = 'CONNECT')                        AS user_has_connect
  FROM pg_database d
 WHERE d.datname = ANY($1::text[]) AND ${CONNECTABLE_DATABASE}`;

/** Which of the named databases a request may name exist (a request's acceptance: no user is involved yet). */
export const CONNECTABLE_DATABASES = `SELECT d.datname::text AS name FROM pg_database d WHERE d.datname = ANY($1::text[]) AND ${CONNECTABLE_DATABASE}`;

/** Databases where the role holds an explicit grant (DROP ROLE fails on those: revoke first). */
export const DATABASES_GRANTING = `
SELECT d.datname::text AS name
  FROM pg_database d, ${ACL_ENTRIES('d.datacl')} a
 WHERE a.grantee = (SELECT u.oid FROM pg_roles u WHERE u.rolname = $1)
 GROUP BY d.datname
 ORDER BY 1`;

/**
 * Databases whose pg_database row names the role (an explicit grant, or ownership): the rows that
 * DROP OWNED and REASSIGN OWNED rewrite, from whichever database they run in.
 */
export const DATABASES_NAMING = `
SELECT d.datname::text AS name
  FROM pg_database d
  JOIN pg_roles u ON u.rolname = $1
 WHERE d.datdba = u.oid OR EXISTS (SELECT 1 FROM ${ACL_ENTRIES('d.datacl')} a WHERE a.grantee = u.oid)
 ORDER BY 1`;

/**
 * Serialises work on one role (or one database's ACL) across concurrent executions.
 * Transaction-scoped: released at COMMIT/ROLLBACK, so a crashed function never leaves it held.
 * Concurrent GRANTs on one database otherwise fail with "tuple concurrently updated".
 */
export const ADVISORY_XACT_LOCK = `SELECT pg_advisory_xact_lock(hashtext($1))`;

/** Takes the key if it is free; the usual case, so no wait at all. */
export const TRY_ADVISORY_XACT_LOCK = `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok`;

/**
 * Sessions holding or awaiting an advisory key (single bigint form: objsubid 1) in this database
 * that are neither the admin's nor a superuser's: when there are none, the admin waits for its
 * own other executions only.
 */
export const ADVISORY_KEY_STRANGERS = `
SELECT count(*)::int AS n
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
  JOIN pg_roles r ON r.oid = a.usesysid
 WHERE l.locktype = 'advisory'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.objsubid = 1
   AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint
   AND NOT r.rolsuper
   AND r.rolname <> session_user`;

/** The server process of this connection: what a watching connection asks pg_blocking_pids about. */
export const BACKEND_PID = `SELECT pg_backend_pid() AS pid`;

/**
 * Run from a second admin connection while the admin's session $1 waits: ends the sessions it
 * waits behind (holders, and requests queued ahead of it: pg_blocking_pids) unless they are the
 * admin's own sessions (other executions, waited for) or a superuser's. Advisory keys are open to
 * every login, and so are ordinary locks on anything a login may read. pg_terminate_backend does
 * not wait: the admin's request is already queued, so it is granted the moment the session exits,
 * before any newcomer.
 */
export const END_BLOCKING_SESSIONS = `
SELECT a.pid,
       a.usename::text AS user,
       (SELECT string_agg(DISTINCT CASE w.locktype
                                     WHEN 'relation' THEN 'relation ' || w.relation::regclass::text
                                     WHEN 'advisory' THEN 'advisory key ' || ((w.classid::bigint << 32) | w.objid::bigint)
                                     ELSE w.locktype
                                   END || ' (' || w.mode || ')', ', ')
          FROM pg_locks w
         WHERE w.pid = $1 AND NOT w.granted)                            AS waited_for,
       (SELECT left(q.query, 200) FROM pg_stat_activity q WHERE q.pid = $1) AS statement,
       pg_terminate_backend(a.pid)                                      AS ended
  FROM pg_stat_activity a
  JOIN pg_roles r ON r.oid = a.usesysid -- background workers (autovacuum) have no role: never ended
 WHERE a.pid = ANY (pg_blocking_pids($1))
   AND NOT r.rolsuper
   AND r.rolname <> session_user`;

/** Sessions of a role, ended; PostgreSQL 14+ waits up to 5 s for each to exit. */
export const TERMINATE_SESSIONS = (versionNum: number): string => `
SELECT count(*) FILTER (WHERE ${versionNum >= 140000 ? 'pg_terminate_backend(pid, 5000)' : 'pg_terminate_backend(pid)'})::int AS terminated
  FROM pg_stat_activity
 WHERE usename = $1 AND pid <> pg_backend_pid()`;

export const SESSION_COUNT = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`;

/** Sessions of the user that began before $2 (the end of its grant): those the end must have ended. */
export const SESSIONS_BEGUN_BY = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND backend_start < $2 AND pid <> pg_backend_pid()`;

/** Every database whose objects REASSIGN/DROP OWNED must visit (RDS's own rdsadmin is not ours). */
export const USER_DATABASES = `
SELECT datname::text AS name FROM pg_database
 WHERE NOT datistemplate AND datallowconn AND datname <> 'rdsadmin'
 ORDER BY 1`;

/** Objects the role owns in the current database. */
export const OWNED_IN_CURRENT_DATABASE = `
SELECT count(*)::int AS n
  FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
 WHERE r.rolname = $1 AND d.deptype = 'o'
   AND d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/** Objects the role owns, per database (pg_shdepend is shared: one query from any database). */
export const OWNED_PER_DATABASE = `
SELECT db.datname::text AS database, count(*)::int AS n
  FROM pg_shdepend d
  JOIN pg_roles r ON r.oid = d.refobjid
  JOIN pg_database db ON db.oid = d.dbid
 WHERE r.rolname = $1 AND d.deptype = 'o'
 GROUP BY 1 ORDER BY 1`;

/** What still depends on the role, per database (shared catalog: visible from any database). */
export const REMAINING_DEPENDENCIES = `
SELECT coalesce(db.datname::text, '(shared)') AS database, d.deptype::text AS kind, count(*)::int AS n
  FROM pg_shdepend d
  JOIN pg_roles r ON r.oid = d.refobjid
  LEFT JOIN pg_database db ON db.oid = d.dbid
 WHERE r.rolname = $1
 GROUP BY 1, 2 ORDER BY 1, 2`;

/** Whether the connected admin holds (inheriting) the privileges of a role. */
export const ADMIN_HAS_PRIVILEGES_OF = `SELECT pg_has_role(current_user, $1, 'USAGE') AS ok`;

/**
 * The quarantine role as offboarding needs it: no attributes, no members, member of nothing (its
 * objects run with its rights, which must stay none).
 */
export const QUARANTINE_ROLE_STATE = `
SELECT array_remove(ARRAY[CASE WHEN r.rolcanlogin THEN 'LOGIN' END, CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                          CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                          CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS attributes,
       ARRAY(SELECT DISTINCT m.rolname::text FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
              WHERE am.roleid = r.oid AND ${IS_MEMBERSHIP('am')} ORDER BY 1)                              AS members,
       ARRAY(SELECT DISTINCT g.rolname::text FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
              WHERE am.member = r.oid ORDER BY 1)                                                         AS member_of
  FROM pg_roles r
 WHERE r.rolname = $1`;

/**
 * Code the successor may run as it is: internal functions, functions of superusers, of the successor ($2) and of the
 * connected admin, and functions that belong to an extension (their code comes from the extension's script; the
 * extension's creator cannot rewrite them in place). `p` is a pg_proc row, `fo` its owner's pg_roles row. The roles
 * $1 (the leaver) and the quarantine role (parameter `quarantine`) never own trusted extension code.
 */
export const TRUSTED_FUNCTION = (p: string, fo: string, quarantine = '$4'): string =>
  `(${p}.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal') OR ${fo}.rolsuper OR ${fo}.rolname = $2 OR ${fo}.rolname = current_user
    OR (EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_proc'::regclass AND x.objid = ${p}.oid AND x.deptype = 'e')
        AND NOT (${fo}.rolname = ANY($1::text[]) OR ${fo}.rolname = ${quarantine})))`;

/**
 * What the roles $1 own in the current database (with $3, also shared objects: databases,
 * tablespaces), with what deciding where each goes needs: kind and identity (pg_identify_object:
 * schema-qualified and quoted by the server), who else holds privileges on it (object and column
 * ACLs), the table a sequence belongs to, and the functions it would run for its new owner.
 *
 * Those functions are found by walking pg_depend from the object: into its parts (defaults,
 * constraints, indexes, policies, statistics, a domain's checks; not triggers and rules, which
 * TABLE_HOOKS lists), and on to what they use (types, operators, functions), transitively; other
 * tables are not entered. Internal code and functions of superusers, of the successor ($2) and of
 * the connected admin are trusted; functions of the roles $1 and of the quarantine role ($4) are
 * "quarantined" (nobody holds EXECUTE on them once offboarding ran, so a call fails); any other
 * owner's function is "foreign": its owner could change it at any time.
 */
export const OWNED_OBJECTS = `
WITH RECURSIVE owned AS (
  SELECT d.classid, d.objid, o.oid AS owner_oid, o.rolname::text AS owner
    FROM pg_shdepend d
    JOIN pg_roles o ON o.oid = d.refobjid
   WHERE o.rolname = ANY($1::text[]) AND d.deptype = 'o'
     AND (d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) OR (d.dbid = 0 AND $3::boolean))
), reach (root_class, root, classid, objid, expand) AS (
  SELECT classid, objid, classid, objid, true FROM owned
  UNION
  SELECT r.root_class, r.root, e.classid, e.objid, e.expand
    FROM reach r
   CROSS JOIN LATERAL (
         SELECT d.refclassid, d.refobjid, d.refclassid <> 'pg_class'::regclass
           FROM pg_depend d
          WHERE d.classid = r.classid AND d.objid = r.objid
         UNION ALL
         SELECT d.classid, d.objid, true
           FROM pg_depend d
          WHERE d.refclassid = r.classid AND d.refobjid = r.objid AND d.deptype IN ('a', 'i')
            AND d.classid NOT IN ('pg_trigger'::regclass, 'pg_rewrite'::regclass)
         ) e (classid, objid, expand)
   WHERE r.expand
), calls AS (
  SELECT DISTINCT r.root_class, r.root, f.identity AS function,
         fo.rolname = ANY($1::text[]) OR fo.rolname = $4 AS quarantined
    FROM reach r
    JOIN pg_proc p ON r.classid = 'pg_proc'::regclass AND p.oid = r.objid
    JOIN pg_roles fo ON fo.oid = p.proowner
   CROSS JOIN LATERAL pg_identify_object('pg_proc'::regclass, p.oid, 0) f
   WHERE NOT (r.root_class = 'pg_proc'::regclass AND r.root = p.oid)
     AND NOT ${TRUSTED_FUNCTION('p', 'fo')}
)
SELECT o.owner,
       o.classid::regclass::text                                                AS catalog,
       x.type                                                                   AS kind,
       x.schema::text                                                           AS schema,
       x.identity::text                                                         AS identity,
       CASE o.classid
         WHEN 'pg_class'::regclass THEN (SELECT relkind::text FROM pg_class WHERE oid = o.objid)
         WHEN 'pg_proc'::regclass  THEN (SELECT prokind::text FROM pg_proc WHERE oid = o.objid)
         WHEN 'pg_type'::regclass  THEN (SELECT typtype::text FROM pg_type WHERE oid = o.objid)
       END                                                                      AS subkind,
       ARRAY(SELECT DISTINCT g.rolname::text
               FROM unnest(acl.grantees) a JOIN pg_roles g ON g.oid = a
              WHERE a <> o.owner_oid ORDER BY 1)                                AS grantees,
       (SELECT t.identity::text
          FROM pg_depend d CROSS JOIN LATERAL pg_identify_object(d.refclassid, d.refobjid, 0) t
         WHERE o.classid = 'pg_class'::regclass AND d.classid = o.classid AND d.objid = o.objid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           AND (SELECT relkind FROM pg_class WHERE oid = o.objid) = 'S'
         LIMIT 1)                                                               AS follows,
       ARRAY(SELECT c.function FROM calls c WHERE c.root_class = o.classid AND c.root = o.objid AND c.quarantined ORDER BY 1)     AS calls_quarantined,
       ARRAY(SELECT c.function FROM calls c WHERE c.root_class = o.classid AND c.root = o.objid AND NOT c.quarantined ORDER BY 1) AS calls_foreign,
       coalesce((SELECT has_schema_privilege(n.oid, 'CREATE WITH GRANT OPTION') OR pg_has_role(n.nspowner, 'USAGE')
                        OR n.nspowner = o.owner_oid OR pg_get_userbyid(n.nspowner) = $2
                   FROM pg_namespace n WHERE n.nspname = x.schema), true)      AS admin_can_grant_create
  FROM owned o
 CROSS JOIN LATERAL pg_identify_object(o.classid, o.objid, 0) x
 CROSS JOIN LATERAL (
       SELECT ARRAY(SELECT (aclexplode(c.relacl)).grantee FROM pg_class c WHERE o.classid = 'pg_class'::regclass AND c.oid = o.objid
                    UNION SELECT (aclexplode(a.attacl)).grantee FROM pg_attribute a WHERE o.classid = 'pg_class'::regclass AND a.attrelid = o.objid
                    UNION SELECT (aclexplode(p.proacl)).grantee FROM pg_proc p WHERE o.classid = 'pg_proc'::regclass AND p.oid = o.objid
                    UNION SELECT (aclexplode(t.typacl)).grantee FROM pg_type t WHERE o.classid = 'pg_type'::regclass AND t.oid = o.objid
                    UNION SELECT (aclexplode(s.srvacl)).grantee FROM pg_foreign_server s WHERE o.classid = 'pg_foreign_server'::regclass AND s.oid = o.objid
              ) AS grantees) acl
 ORDER BY 1, 2, 5`;

/**
 * Rules, and triggers running functions that are not trusted (see OWNED_OBJECTS), on tables the roles
 * $1 own: a rule's actions run with the table owner's rights, a trigger's function with the rights of
 * whoever writes to the table, the successor included ($2 the successor, $3 the quarantine role). Only those still enabled.
 */
export const TABLE_HOOKS = `
SELECT o.rolname::text AS owner, t.identity::text AS "table", 'rule' AS kind, r.rulename::text AS name, NULL::text AS function
  FROM pg_rewrite r
  JOIN pg_class c ON c.oid = r.ev_class
  JOIN pg_roles o ON o.oid = c.relowner
 CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, c.oid, 0) t
 WHERE o.rolname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND r.ev_enabled <> 'D'
UNION ALL
SELECT o.rolname::text, t.identity::text, 'trigger', tg.tgname::text, f.identity::text
  FROM pg_trigger tg
  JOIN pg_class c ON c.oid = tg.tgrelid
  JOIN pg_roles o ON o.oid = c.relowner
  JOIN pg_proc p ON p.oid = tg.tgfoid
  JOIN pg_roles fo ON fo.oid = p.proowner
 CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, c.oid, 0) t
 CROSS JOIN LATERAL pg_identify_object('pg_proc'::regclass, p.oid, 0) f
 WHERE o.rolname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'
   AND NOT ${TRUSTED_FUNCTION('p', 'fo', '$3')}
 ORDER BY 1, 2, 3, 4`;
