/**
 * The SQL this project runs, kept readable in one place. Values are bind parameters;
 * identifiers in DDL go through escapeIdentifier (see ddl.ts), never concatenation.
 */

/** Who we are connected as and what that role may do. */
export const ADMIN_CAPABILITIES = `
SELECT current_user                                   AS admin,
       r.rolsuper                                     AS superuser,
       r.rolcreaterole                                AS createrole,
       current_setting('server_version_num')::int     AS version_num
  FROM pg_roles r
 WHERE r.rolname = current_user`;

/** Roles (by name) the admin can grant: ADMIN OPTION, which PostgreSQL 16+ requires even with CREATEROLE. */
export const ADMIN_OPTION_ON = `
SELECT g.rolname,
       pg_has_role(current_user, g.oid, 'MEMBER WITH ADMIN OPTION') AS has_admin_option
  FROM pg_roles g
 WHERE g.rolname = ANY($1::text[])`;

/** A database user as this project sees it: its login flag, comment and direct memberships. */
export const ROLE_STATE = `
SELECT r.oid,
       r.rolcanlogin                                  AS can_login,
       r.rolsuper                                     AS superuser,
       shobj_description(r.oid, 'pg_authid')          AS comment,
       ARRAY(SELECT g.rolname::text
               FROM pg_auth_members am
               JOIN pg_roles g ON g.oid = am.roleid
              WHERE am.member = r.oid
              ORDER BY 1)                             AS member_of
  FROM pg_roles r
 WHERE r.rolname = $1`;

export const EXISTING_ROLES = `SELECT rolname::text AS name FROM pg_roles WHERE rolname = ANY($1::text[])`;

/**
 * The requested databases: whether they exist, whether the admin may grant CONNECT on them,
 * and whether the user already holds CONNECT explicitly (PUBLIC's default grant does not
 * count: some databases revoke it).
 */
export const DATABASE_CONNECT_STATE = `
SELECT d.datname::text                                                     AS name,
       has_database_privilege(d.oid, 'CONNECT WITH GRANT OPTION')          AS admin_can_grant,
       EXISTS (SELECT 1
                 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                 JOIN pg_roles u ON u.oid = a.grantee
                WHERE u.rolname = $2 AND a.privilege_type = 'CONNECT') AS user_has_connect
  FROM pg_database d
 WHERE d.datname = ANY($1::text[]) AND NOT d.datistemplate AND d.datallowconn`;

/** Databases where the role holds an explicit grant (DROP ROLE fails on those: revoke first). */
export const DATABASES_GRANTING = `
SELECT d.datname::text AS name
  FROM pg_database d, aclexplode(d.datacl) a
  JOIN pg_roles u ON u.oid = a.grantee
 WHERE u.rolname = $1
 GROUP BY d.datname
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
