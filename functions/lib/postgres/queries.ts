import { sql } from './sql';

/**
 * The statements by the names the code uses; their text, what each does and its parameters are in sql/*.sql. Values
 * are bind parameters; the DDL, which takes none, is built in ddl.ts from quoted identifiers.
 */
export const ADMIN_CAPABILITIES = sql('admin-capabilities.sql');
export const ADMIN_OPTION_ON = sql('admin-option-on.sql');
export const ROLE_STATE = sql('role-state.sql');
export const EXISTING_ROLES = sql('existing-roles.sql');
export const GRANTOR_STATE = sql('grantor-state.sql');
export const MEMBERSHIP_GRANTORS = sql('membership-grantors.sql');
export const DATABASE_CONNECT_STATE = sql('database-connect-state.sql');
export const CONNECTABLE_DATABASES = sql('connectable-databases.sql');
export const DATABASES_GRANTING = sql('databases-granting.sql');
export const DATABASES_NAMING = sql('databases-naming.sql');
export const ADVISORY_XACT_LOCK = sql('advisory-xact-lock.sql');
export const TRY_ADVISORY_XACT_LOCK = sql('try-advisory-xact-lock.sql');
export const ADVISORY_KEY_STRANGERS = sql('advisory-key-strangers.sql');
export const BACKEND_PID = sql('backend-pid.sql');
export const END_BLOCKING_SESSIONS = sql('end-blocking-sessions.sql');
export const SESSION_COUNT = sql('session-count.sql');
export const SESSIONS_BEGUN_BY = sql('sessions-begun-before.sql');
export const CLOCK_TIMESTAMP = sql('clock-timestamp.sql');
export const USER_DATABASES = sql('user-databases.sql');
export const OWNED_IN_CURRENT_DATABASE = sql('owned-in-current-database.sql');
export const OWNED_PER_DATABASE = sql('owned-per-database.sql');
export const REMAINING_DEPENDENCIES = sql('remaining-dependencies.sql');
export const ADMIN_HAS_PRIVILEGES_OF = sql('admin-has-privileges-of.sql');
export const QUARANTINE_ROLE_STATE = sql('quarantine-role-state.sql');
export const OWNED_OBJECTS = sql('owned-objects.sql');
export const TABLE_HOOKS = sql('table-hooks.sql');
export const SERVER_VERSION = sql('server-version.sql');
export const CURRENT_USER = sql('current-user.sql');
export const MANAGED_ROLES = sql('managed-roles.sql');
export const PASSWORDS_SET = sql('passwords-set.sql');

const TERMINATE_SESSIONS_14 = sql('terminate-sessions.sql');
const TERMINATE_SESSIONS_13 = sql('terminate-sessions-pg13.sql');
/** PostgreSQL 13's pg_terminate_backend takes no timeout, so the statement depends on the server (server_version_num). */
export const TERMINATE_SESSIONS = (versionNum: number): string => (versionNum >= 140000 ? TERMINATE_SESSIONS_14 : TERMINATE_SESSIONS_13);
