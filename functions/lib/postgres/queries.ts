import { expandSql } from './sql';
import adminCapabilitiesSql from './sql/admin-capabilities.sql';
import adminHasPrivilegesOfSql from './sql/admin-has-privileges-of.sql';
import adminOptionOnSql from './sql/admin-option-on.sql';
import advisoryKeyStrangersSql from './sql/advisory-key-strangers.sql';
import advisoryXactLockSql from './sql/advisory-xact-lock.sql';
import backendPidSql from './sql/backend-pid.sql';
import clockTimestampSql from './sql/clock-timestamp.sql';
import connectableDatabasesSql from './sql/connectable-databases.sql';
import currentUserSql from './sql/current-user.sql';
import databaseConnectStateSql from './sql/database-connect-state.sql';
import databasesGrantingSql from './sql/databases-granting.sql';
import databasesNamingSql from './sql/databases-naming.sql';
import endBlockingSessionsSql from './sql/end-blocking-sessions.sql';
import existingRolesSql from './sql/existing-roles.sql';
import grantorStateSql from './sql/grantor-state.sql';
import managedRolesSql from './sql/managed-roles.sql';
import membershipGrantorsSql from './sql/membership-grantors.sql';
import ownedInCurrentDatabaseSql from './sql/owned-in-current-database.sql';
import ownedObjectsSql from './sql/owned-objects.sql';
import ownedPerDatabaseSql from './sql/owned-per-database.sql';
import passwordsSetSql from './sql/passwords-set.sql';
import quarantineRoleStateSql from './sql/quarantine-role-state.sql';
import remainingDependenciesSql from './sql/remaining-dependencies.sql';
import roleStateSql from './sql/role-state.sql';
import serverVersionSql from './sql/server-version.sql';
import sessionCountSql from './sql/session-count.sql';
import sessionsBegunBeforeSql from './sql/sessions-begun-before.sql';
import tableHooksSql from './sql/table-hooks.sql';
import terminateSessionsSql from './sql/terminate-sessions.sql';
import terminateSessionsPg13Sql from './sql/terminate-sessions-pg13.sql';
import tryAdvisoryXactLockSql from './sql/try-advisory-xact-lock.sql';
import userDatabasesSql from './sql/user-databases.sql';

/**
 * The statements by the names the code uses; their text, what each does and its parameters are in sql/*.sql. Values
 * are bind parameters; the DDL, which takes none, is built in ddl.ts from quoted identifiers.
 */
// Each statement imported on its own and expanded by a pure call: a bundle keeps only the SQL its code runs (the api's
// planners show a few statements; it runs none).
export const ADMIN_CAPABILITIES = /* @__PURE__ */ expandSql(adminCapabilitiesSql, 'admin-capabilities.sql');
export const ADMIN_OPTION_ON = /* @__PURE__ */ expandSql(adminOptionOnSql, 'admin-option-on.sql');
export const ROLE_STATE = /* @__PURE__ */ expandSql(roleStateSql, 'role-state.sql');
export const EXISTING_ROLES = /* @__PURE__ */ expandSql(existingRolesSql, 'existing-roles.sql');
export const GRANTOR_STATE = /* @__PURE__ */ expandSql(grantorStateSql, 'grantor-state.sql');
export const MEMBERSHIP_GRANTORS = /* @__PURE__ */ expandSql(membershipGrantorsSql, 'membership-grantors.sql');
export const DATABASE_CONNECT_STATE = /* @__PURE__ */ expandSql(databaseConnectStateSql, 'database-connect-state.sql');
export const CONNECTABLE_DATABASES = /* @__PURE__ */ expandSql(connectableDatabasesSql, 'connectable-databases.sql');
export const DATABASES_GRANTING = /* @__PURE__ */ expandSql(databasesGrantingSql, 'databases-granting.sql');
export const DATABASES_NAMING = /* @__PURE__ */ expandSql(databasesNamingSql, 'databases-naming.sql');
export const ADVISORY_XACT_LOCK = /* @__PURE__ */ expandSql(advisoryXactLockSql, 'advisory-xact-lock.sql');
export const TRY_ADVISORY_XACT_LOCK = /* @__PURE__ */ expandSql(tryAdvisoryXactLockSql, 'try-advisory-xact-lock.sql');
export const ADVISORY_KEY_STRANGERS = /* @__PURE__ */ expandSql(advisoryKeyStrangersSql, 'advisory-key-strangers.sql');
export const BACKEND_PID = /* @__PURE__ */ expandSql(backendPidSql, 'backend-pid.sql');
export const END_BLOCKING_SESSIONS = /* @__PURE__ */ expandSql(endBlockingSessionsSql, 'end-blocking-sessions.sql');
export const SESSION_COUNT = /* @__PURE__ */ expandSql(sessionCountSql, 'session-count.sql');
export const SESSIONS_BEGUN_BY = /* @__PURE__ */ expandSql(sessionsBegunBeforeSql, 'sessions-begun-before.sql');
export const CLOCK_TIMESTAMP = /* @__PURE__ */ expandSql(clockTimestampSql, 'clock-timestamp.sql');
export const USER_DATABASES = /* @__PURE__ */ expandSql(userDatabasesSql, 'user-databases.sql');
export const OWNED_IN_CURRENT_DATABASE = /* @__PURE__ */ expandSql(ownedInCurrentDatabaseSql, 'owned-in-current-database.sql');
export const OWNED_PER_DATABASE = /* @__PURE__ */ expandSql(ownedPerDatabaseSql, 'owned-per-database.sql');
export const REMAINING_DEPENDENCIES = /* @__PURE__ */ expandSql(remainingDependenciesSql, 'remaining-dependencies.sql');
export const ADMIN_HAS_PRIVILEGES_OF = /* @__PURE__ */ expandSql(adminHasPrivilegesOfSql, 'admin-has-privileges-of.sql');
export const QUARANTINE_ROLE_STATE = /* @__PURE__ */ expandSql(quarantineRoleStateSql, 'quarantine-role-state.sql');
export const OWNED_OBJECTS = /* @__PURE__ */ expandSql(ownedObjectsSql, 'owned-objects.sql');
export const TABLE_HOOKS = /* @__PURE__ */ expandSql(tableHooksSql, 'table-hooks.sql');
export const SERVER_VERSION = /* @__PURE__ */ expandSql(serverVersionSql, 'server-version.sql');
export const CURRENT_USER = /* @__PURE__ */ expandSql(currentUserSql, 'current-user.sql');
export const MANAGED_ROLES = /* @__PURE__ */ expandSql(managedRolesSql, 'managed-roles.sql');
export const PASSWORDS_SET = /* @__PURE__ */ expandSql(passwordsSetSql, 'passwords-set.sql');

const TERMINATE_SESSIONS_14 = /* @__PURE__ */ expandSql(terminateSessionsSql, 'terminate-sessions.sql');
const TERMINATE_SESSIONS_13 = /* @__PURE__ */ expandSql(terminateSessionsPg13Sql, 'terminate-sessions-pg13.sql');
/** PostgreSQL 13's pg_terminate_backend takes no timeout, so the statement depends on the server (server_version_num). */
export const TERMINATE_SESSIONS = (versionNum: number): string => (versionNum >= 140000 ? TERMINATE_SESSIONS_14 : TERMINATE_SESSIONS_13);
