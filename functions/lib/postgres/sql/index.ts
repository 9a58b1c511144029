/**
 * The SQL this project runs, kept in `.sql` files a DBA reads and lints without reading TypeScript. Each file is
 * bundled as its text (see text.d.ts); `sql(name)` returns the statement ready to run.
 *
 * A statement shares a piece with others through a fragment (fragments/<name>.sql), included as `{{name(arg, ...)}}`
 * or `{{name}}`: the fragment's first line declares its parameters (`-- fragment: name(a, b)`), and `{{a}}` in its
 * body is replaced by the argument, SQL text from the including file (an alias, an expression, a `$n`), never input.
 * Values are always bind parameters ($1, $2, ...), as before; a fragment only saves writing a rule twice.
 *
 * The header (the leading comment lines) is left out of what is sent: pg_stat_activity and the watchdog's report of
 * a blocked statement (its first 200 characters) then show the statement, not its documentation.
 *
 * Every file is imported here, by name, because a bundler only includes what is imported statically;
 * test/unit/postgres/sql-files.test.ts checks this list against the folder.
 */
import adminCapabilities from './admin-capabilities.sql';
import adminHasPrivilegesOf from './admin-has-privileges-of.sql';
import adminOptionOn from './admin-option-on.sql';
import advisoryKeyStrangers from './advisory-key-strangers.sql';
import advisoryXactLock from './advisory-xact-lock.sql';
import backendPid from './backend-pid.sql';
import clockTimestamp from './clock-timestamp.sql';
import connectableDatabases from './connectable-databases.sql';
import currentUser from './current-user.sql';
import databaseConnectState from './database-connect-state.sql';
import databasesGranting from './databases-granting.sql';
import databasesNaming from './databases-naming.sql';
import endBlockingSessions from './end-blocking-sessions.sql';
import existingRoles from './existing-roles.sql';
import grantorState from './grantor-state.sql';
import managedRoles from './managed-roles.sql';
import membershipGrantors from './membership-grantors.sql';
import ownedInCurrentDatabase from './owned-in-current-database.sql';
import ownedObjects from './owned-objects.sql';
import ownedPerDatabase from './owned-per-database.sql';
import passwordsSet from './passwords-set.sql';
import quarantineRoleState from './quarantine-role-state.sql';
import remainingDependencies from './remaining-dependencies.sql';
import roleState from './role-state.sql';
import serverVersion from './server-version.sql';
import sessionCount from './session-count.sql';
import sessionsBegunBefore from './sessions-begun-before.sql';
import tableHooks from './table-hooks.sql';
import terminateSessions from './terminate-sessions.sql';
import terminateSessionsPg13 from './terminate-sessions-pg13.sql';
import tryAdvisoryXactLock from './try-advisory-xact-lock.sql';
import userDatabases from './user-databases.sql';
import aclEntries from './fragments/acl-entries.sql';
import connectableDatabase from './fragments/connectable-database.sql';
import isMembership from './fragments/is-membership.sql';
import trustedFunction from './fragments/trusted-function.sql';

const STATEMENTS = {
  'admin-capabilities.sql': adminCapabilities,
  'admin-has-privileges-of.sql': adminHasPrivilegesOf,
  'admin-option-on.sql': adminOptionOn,
  'advisory-key-strangers.sql': advisoryKeyStrangers,
  'advisory-xact-lock.sql': advisoryXactLock,
  'backend-pid.sql': backendPid,
  'clock-timestamp.sql': clockTimestamp,
  'connectable-databases.sql': connectableDatabases,
  'current-user.sql': currentUser,
  'database-connect-state.sql': databaseConnectState,
  'databases-granting.sql': databasesGranting,
  'databases-naming.sql': databasesNaming,
  'end-blocking-sessions.sql': endBlockingSessions,
  'existing-roles.sql': existingRoles,
  'grantor-state.sql': grantorState,
  'managed-roles.sql': managedRoles,
  'membership-grantors.sql': membershipGrantors,
  'owned-in-current-database.sql': ownedInCurrentDatabase,
  'owned-objects.sql': ownedObjects,
  'owned-per-database.sql': ownedPerDatabase,
  'passwords-set.sql': passwordsSet,
  'quarantine-role-state.sql': quarantineRoleState,
  'remaining-dependencies.sql': remainingDependencies,
  'role-state.sql': roleState,
  'server-version.sql': serverVersion,
  'session-count.sql': sessionCount,
  'sessions-begun-before.sql': sessionsBegunBefore,
  'table-hooks.sql': tableHooks,
  'terminate-sessions.sql': terminateSessions,
  'terminate-sessions-pg13.sql': terminateSessionsPg13,
  'try-advisory-xact-lock.sql': tryAdvisoryXactLock,
  'user-databases.sql': userDatabases,
} as const;

const FRAGMENTS: Record<string, string> = {
  'acl-entries': aclEntries,
  'connectable-database': connectableDatabase,
  'is-membership': isMembership,
  'trusted-function': trustedFunction,
};

export type StatementFile = keyof typeof STATEMENTS;

/**
 * Every file this module loads, relative to its folder: what the test compares with the folder's contents. A function,
 * so a bundle that runs no SQL (the api's) drops the files: queries.ts's constants are pure calls of sql().
 */
export const sqlFiles = (): readonly string[] => [...Object.keys(STATEMENTS), ...Object.keys(FRAGMENTS).map((f) => `fragments/${f}.sql`)];

const HEADER = /^(?:[ \t]*(?:--[^\n]*)?\r?\n)*/;
const SIGNATURE = /^-- fragment: ([a-z][a-z0-9-]*)\(([^)]*)\)[ \t]*\r?$/;
/** `{{name}}` or `{{name(args)}}`; args end at the first `)}}`, so they may hold parentheses of their own. */
const PLACEHOLDER = /\{\{([a-z][a-z0-9-]*)(?:\((.*?)\))?\}\}/gs;

const bodyOf = (text: string): string => text.replace(HEADER, '').trimEnd();

/** Arguments split at the commas outside parentheses and string literals: `coalesce(a, b), $3` is two. */
const splitArguments = (args: string): string[] => {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = args.slice(start).trim();
  return out.length || last ? [...out, last] : [];
};

const expand = (text: string, where: string, depth = 0): string => {
  if (depth > 8) throw new Error(`${where}: fragments include each other without end`);
  return text.replace(PLACEHOLDER, (_, name: string, args: string | undefined) => {
    const fragment = FRAGMENTS[name];
    if (fragment === undefined) throw new Error(`${where}: {{${name}}} names no fragment (fragments/${name}.sql)`);
    const signature = SIGNATURE.exec(fragment.split('\n', 1)[0]);
    if (!signature || signature[1] !== name) throw new Error(`fragments/${name}.sql: its first line must be "-- fragment: ${name}(parameters)"`);
    const params = splitArguments(signature[2]);
    const values = splitArguments(args ?? '');
    if (values.length !== params.length)
      throw new Error(`${where}: {{${name}}} takes ${params.length} argument(s) (${params.join(', ')}), got ${values.length}`);
    let body = bodyOf(fragment);
    params.forEach((p, i) => {
      // A function, so `$&` and the like in an argument are taken as they are.
      body = body.replaceAll(`{{${p}}}`, () => values[i]);
    });
    return expand(body, `fragments/${name}.sql`, depth + 1);
  });
};

/** SQL text with its fragments expanded: for statements written elsewhere (the soak's checks) that share a rule. */
export const expandSql = (text: string, where = 'SQL text'): string => {
  const out = expand(bodyOf(text), where);
  const left = /\{\{|\}\}/.exec(out);
  if (left) throw new Error(`${where}: "${out.slice(Math.max(0, left.index - 20), left.index + 20)}" is an unexpanded placeholder`);
  return out;
};

/** The statement of sql/<name>, as sent to the server. */
export const sql = (name: StatementFile): string => expandSql(STATEMENTS[name], name);
