import type { Client } from 'pg';
import type { ReassignmentSettings } from '../core/config';
import { ProvisioningError } from '../core/errors';
import { inTransaction } from './connection';
import { quarantineDdl, type ServerQuoted, type SqlStep } from './ddl';
import { OWNED_OBJECTS, QUARANTINE_ROLE_STATE, TABLE_HOOKS } from './queries';
import { lockProjectKey } from './watchdog';
import { type AdminCapabilities, lockKey, readAdminCapabilities } from './roles';

/**
 * Where each object a leaver owns goes before REASSIGN OWNED hands "everything" to the successor
 * (DESIGN principle 8: nothing handed over runs with the successor's rights on the leaver's behalf).
 * Data (tables, sequences, schemas, types, large objects) goes to the successor; what runs with its
 * owner's rights (views, functions, foreign tables and servers), or calls code whose owner could
 * change it, goes to the quarantine role, and everyone else's privileges on it are revoked; rules, and
 * triggers running untrusted functions, on the leaver's tables are disabled (kept, not dropped). With
 * `unsafeObjects: refuse` nothing but data is handed over: the database is left as it is and the
 * objects are reported.
 */
export interface OwnedObject {
  owner: string;
  /** The system catalog holding it (pg_class, pg_proc, ...). */
  catalog: string;
  kind: string;
  schema: string | null;
  identity: ServerQuoted;
  /** relkind, prokind or typtype. */
  subkind: string | null;
  /** Roles other than the owner holding privileges on it (PUBLIC is always revoked). */
  grantees: string[];
  /** For a sequence owned by a table column: that table (ALTER TABLE ... OWNER moves it along). */
  follows: string | null;
  /** Untrusted functions it runs that are the leaver's or the quarantine role's (no EXECUTE once quarantined). */
  callsQuarantined: string[];
  /** Untrusted functions of other roles it runs: their owners could change them at any time. */
  callsForeign: string[];
  /** Whether the admin can let the quarantine role own objects in its schema (CREATE WITH GRANT OPTION, or the owner's rights). */
  adminCanGrantCreate: boolean;
}

export interface TableHook {
  owner: string;
  table: ServerQuoted;
  kind: 'rule' | 'trigger';
  name: string;
  function: string | null;
}

export type ObjectAction = 'successor' | 'quarantine' | 'disable' | 'refuse' | 'remove';

/** One line of the step output, the dry run and /grants: what happens to one object, and why. */
export interface ObjectDecision {
  database: string;
  owner: string;
  kind: string;
  name: string;
  action: ObjectAction;
  reason: string;
}

interface KindHandling {
  /** The keyword of ALTER <keyword> ... OWNER TO; without one the object cannot be quarantined. */
  alter?: string;
  /** The keyword of REVOKE ... ON <keyword>, for kinds with privileges. */
  acl?: string;
  /** Decided by kind alone, whatever the object runs. */
  always?: Exclude<ObjectAction, 'successor' | 'disable'>;
  why?: string;
}

const ROUTINE =
  "a routine runs the leaver's code: as its owner when SECURITY DEFINER, else as whoever calls it (table maintenance calls it as the table owner)";

/** Keyed by catalog, or catalog:subkind. A catalog missing here is refused: nothing unknown is handed over. */
const KINDS: Record<string, KindHandling> = {
  'pg_class:r': { alter: 'TABLE', acl: 'TABLE' },
  'pg_class:p': { alter: 'TABLE', acl: 'TABLE' },
  'pg_class:S': { alter: 'SEQUENCE', acl: 'SEQUENCE' },
  'pg_class:v': { alter: 'VIEW', acl: 'TABLE', always: 'quarantine', why: "a view reads its tables with its owner's rights" },
  'pg_class:m': { alter: 'MATERIALIZED VIEW', acl: 'TABLE', always: 'quarantine', why: "a materialized view is filled with its owner's rights" },
  'pg_class:f': { alter: 'FOREIGN TABLE', acl: 'TABLE', always: 'quarantine', why: "a foreign table reaches another server with its owner's user mapping" },
  'pg_proc:f': { alter: 'FUNCTION', acl: 'FUNCTION', always: 'quarantine', why: ROUTINE },
  'pg_proc:w': { alter: 'FUNCTION', acl: 'FUNCTION', always: 'quarantine', why: ROUTINE },
  'pg_proc:a': { alter: 'AGGREGATE', acl: 'FUNCTION', always: 'quarantine', why: ROUTINE },
  'pg_proc:p': { alter: 'PROCEDURE', acl: 'PROCEDURE', always: 'quarantine', why: ROUTINE },
  'pg_type:d': { alter: 'DOMAIN', acl: 'DOMAIN' },
  pg_type: { alter: 'TYPE', acl: 'TYPE' },
  pg_foreign_server: { alter: 'SERVER', acl: 'FOREIGN SERVER', always: 'quarantine', why: "a foreign server's connections are used with its owner's rights" },
  pg_operator: { alter: 'OPERATOR' },
  pg_opclass: { alter: 'OPERATOR CLASS' },
  pg_opfamily: { alter: 'OPERATOR FAMILY' },
  pg_collation: { alter: 'COLLATION' },
  pg_conversion: { alter: 'CONVERSION' },
  pg_ts_config: { alter: 'TEXT SEARCH CONFIGURATION' },
  pg_ts_dict: { alter: 'TEXT SEARCH DICTIONARY' },
  pg_statistic_ext: { alter: 'STATISTICS' },
  pg_language: { alter: 'LANGUAGE', acl: 'LANGUAGE' },
  pg_namespace: {},
  pg_largeobject: {},
  pg_database: {},
  pg_tablespace: {},
  pg_extension: {},
  pg_publication: {},
  pg_default_acl: { always: 'remove', why: 'default privileges the user set; DROP OWNED removes them' },
  pg_event_trigger: { always: 'refuse', why: "an event trigger runs on everyone's DDL and only a superuser may own one: a DBA must review it" },
  pg_subscription: {
    always: 'refuse',
    why: "a subscription writes replicated rows with its owner's rights and cannot be owned by a role without privileges: a DBA must review it",
  },
  pg_foreign_data_wrapper: { always: 'refuse', why: 'only a superuser may own a foreign-data wrapper: a DBA must review it' },
};

const UNKNOWN: KindHandling = { always: 'refuse', why: 'this project does not know how to hand this kind of object over safely: a DBA must review it' };

const handlingOf = (o: OwnedObject): KindHandling => KINDS[`${o.catalog}:${o.subkind}`] ?? KINDS[o.catalog] ?? UNKNOWN;

export const readOwnedObjects = async (
  client: Client,
  owners: string[],
  successor: string,
  quarantineRole: string,
  includeShared: boolean,
): Promise<{ objects: OwnedObject[]; hooks: TableHook[] }> => {
  const objects = await client.query<{
    owner: string;
    catalog: string;
    kind: string;
    schema: string | null;
    identity: ServerQuoted;
    subkind: string | null;
    grantees: string[];
    follows: string | null;
    calls_quarantined: string[];
    calls_foreign: string[];
    admin_can_grant_create: boolean;
  }>(OWNED_OBJECTS, [owners, successor, includeShared, quarantineRole]);
  const hooks = await client.query<TableHook>(TABLE_HOOKS, [owners, successor, quarantineRole]);
  return {
    objects: objects.rows.map((r) => ({
      owner: r.owner,
      catalog: r.catalog,
      kind: r.kind,
      schema: r.schema,
      identity: r.identity,
      subkind: r.subkind,
      grantees: r.grantees,
      follows: r.follows,
      callsQuarantined: r.calls_quarantined,
      callsForeign: r.calls_foreign,
      adminCanGrantCreate: r.admin_can_grant_create,
    })),
    hooks: hooks.rows,
  };
};

/** An object's decision together with what carrying it out needs. */
interface Decided {
  object: OwnedObject;
  handling: KindHandling;
  decision: ObjectDecision;
  /** A sequence of a quarantined table: ALTER TABLE moves it, only its grants are revoked. */
  movesWithTable: boolean;
}

const decideOne = (o: OwnedObject, database: string): Omit<Decided, 'movesWithTable'> => {
  const handling = handlingOf(o);
  const at = (action: ObjectAction, reason: string): Omit<Decided, 'movesWithTable'> => ({
    object: o,
    handling,
    decision: { database, owner: o.owner, kind: o.kind, name: o.identity, action, reason },
  });
  const quarantine = (reason: string) =>
    handling.alter ? at('quarantine', reason) : at('refuse', `${reason}, and it cannot be handed to the quarantine role: a DBA must review it`);
  if (handling.always === 'quarantine') return quarantine(handling.why ?? '');
  if (handling.always) return at(handling.always, handling.why ?? '');
  if (o.callsForeign.length)
    return quarantine(`it runs functions of other roles (${o.callsForeign.join(', ')}) whose owners could change them to run with its owner's rights`);
  if (o.callsQuarantined.length)
    return at(
      'successor',
      `data, kept; its defaults, checks, indexes or policies call quarantined functions ` +
        `(${o.callsQuarantined.join(', ')}), which now fail with "permission denied" until a DBA reviews them`,
    );
  return at('successor', 'data, kept');
};

const decideHook = (h: TableHook, database: string): ObjectDecision => ({
  database,
  owner: h.owner,
  kind: h.kind,
  name: `${h.name} on ${h.table}`,
  action: 'disable',
  reason:
    h.kind === 'rule'
      ? "a rule's actions run with the table owner's rights, which after offboarding are the successor's"
      : `it runs ${h.function}, a function the successor does not own, with the rights of whoever writes to the table`,
});

const decideAll = (objects: OwnedObject[], database: string): Decided[] => {
  const first = objects.map((o) => decideOne(o, database));
  const quarantinedTables = new Set<string>(
    first.filter((d) => d.decision.action === 'quarantine' && d.object.catalog === 'pg_class').map((d) => d.object.identity),
  );
  return first.map((d) =>
    d.object.follows && quarantinedTables.has(d.object.follows)
      ? {
          ...d,
          decision: { ...d.decision, action: 'quarantine' as const, reason: `it belongs to ${d.object.follows}, which is quarantined` },
          movesWithTable: true,
        }
      : { ...d, movesWithTable: false },
  );
};

/** What would happen to each object and hook (the access review asks without acting). */
export const decideObjects = (objects: OwnedObject[], hooks: TableHook[], database: string): ObjectDecision[] => [
  ...decideAll(objects, database).map((d) => d.decision),
  ...hooks.map((h) => decideHook(h, database)),
];

const describe = (d: ObjectDecision): string => `${d.database}: ${d.kind} ${d.name} (${d.reason})`;

/**
 * The statements, run in the same transaction before REASSIGN OWNED (which then moves only what goes
 * to the successor), or the refusal. Pure: the run and the dry run use it alike.
 */
export const planReassignment = (
  objects: OwnedObject[],
  hooks: TableHook[],
  database: string,
  settings: ReassignmentSettings,
  versionNum: number,
): { decisions: ObjectDecision[]; steps: SqlStep[] } => {
  const decided = decideAll(objects, database);
  const hookDecisions = hooks.map((h) => decideHook(h, database));
  const refused = decided.filter((d) => d.decision.action === 'refuse').map((d) => d.decision);
  if (settings.unsafeObjects === 'refuse') refused.push(...decided.filter((d) => d.decision.action === 'quarantine').map((d) => d.decision), ...hookDecisions);
  if (refused.length) {
    throw new ProvisioningError(
      'ReassignmentRefused',
      `offboarding stops before handing anything over in database ${database}: these objects would run with the successor's rights or expose its data, and ${
        settings.unsafeObjects === 'refuse' ? 'the target is configured with reassignment.unsafeObjects "refuse"' : 'cannot be quarantined'
      }: ${refused.map(describe).join('; ')}. The user can no longer log in; once a DBA has dealt with them, run the same request again`,
      { details: { database, objects: refused } },
    );
  }

  const q = settings.quarantineRole;
  const toQuarantine = decided.filter((d) => d.decision.action === 'quarantine');
  const moved = toQuarantine.filter((d) => !d.movesWithTable);
  const schemas = [...new Set(moved.map((d) => d.object.schema).filter((s): s is string => s !== null))].sort();
  const blocked = [...new Set(moved.filter((d) => d.object.schema !== null && !d.object.adminCanGrantCreate).map((d) => d.object.schema as string))].sort();
  if (blocked.length) {
    throw new ProvisioningError(
      'AdminLacksPrivilege',
      `the admin cannot let ${q} own the quarantined objects in database ${database}; ` +
        `as the schema owner ` +
        `run: ${blocked.map((s) => `GRANT CREATE ON SCHEMA ${s} TO <admin> WITH GRANT OPTION`).join('; ')}`,
      {
        details: { database, schemas: blocked },
      },
    );
  }

  const decisions = [...decided.map((d) => d.decision), ...hookDecisions];
  const steps: SqlStep[] = hooks.map((h) => (h.kind === 'rule' ? quarantineDdl.disableRule(h.table, h.name) : quarantineDdl.disableTrigger(h.table, h.name)));
  if (toQuarantine.length === 0) return { decisions, steps };
  steps.push(quarantineDdl.actAs(q, versionNum), ...schemas.map((s) => quarantineDdl.lendSchema(s, q)));
  for (const d of moved) steps.push(quarantineDdl.alterOwner(d.handling.alter as string, d.object.identity, q));
  const revocable = toQuarantine.filter((d) => d.handling.acl);
  if (revocable.length) {
    steps.push(
      quarantineDdl.setRole(q),
      ...revocable.map((d) => quarantineDdl.revokeAll(d.handling.acl as string, d.object.identity, d.object.grantees)),
      quarantineDdl.resetRole(),
    );
  }
  steps.push(...schemas.map((s) => quarantineDdl.takeSchemaBack(s, q)), quarantineDdl.stopActingAs(q));
  return { decisions, steps };
};

export interface QuarantineRoleState {
  attributes: string[];
  members: string[];
  memberOf: string[];
}

export const readQuarantineRole = async (client: Client, role: string): Promise<QuarantineRoleState | undefined> => {
  const r = (await client.query<{ attributes: string[]; members: string[]; member_of: string[] }>(QUARANTINE_ROLE_STATE, [role])).rows[0];
  return r && { attributes: r.attributes, members: r.members, memberOf: r.member_of };
};

/**
 * Creates the quarantine role when missing; refuses one that could lend its objects any rights (an
 * attribute, a member who could act as it, a membership it inherits) and an admin that could not
 * hand it objects. Pure: the run and the dry run use it alike.
 */
export const planQuarantineRole = (role: string, state: QuarantineRoleState | undefined, caps: AdminCapabilities): SqlStep[] => {
  if (!state) {
    if (!caps.superuser && !caps.createrole)
      throw new ProvisioningError(
        'AdminLacksPrivilege',
        `admin user ${caps.admin} cannot create the quarantine role ${role}; run: ` +
          `ALTER ROLE ${caps.admin} CREATEROLE (or create ${role} NOLOGIN and GRANT ${role} TO ${caps.admin} ` +
          `WITH ADMIN OPTION, INHERIT FALSE, SET FALSE)`,
      );
    return [quarantineDdl.createRole(role), quarantineDdl.commentRole(role)];
  }
  const problems = [
    ...state.attributes.map((a) => `it has ${a}`),
    ...state.members.map((m) => `${m} is a member of it`),
    ...state.memberOf.map((g) => `it is a member of ${g}`),
  ];
  if (problems.length) {
    throw new ProvisioningError(
      'ConfigurationError',
      `quarantine role ${role} must have no login, no attributes, no members and no memberships, ` +
        `because the objects it holds run with its rights: ${problems.join('; ')}. Fix the role or configure ` +
        `another reassignment.quarantineRole`,
      {
        details: { field: 'reassignment.quarantineRole', problems },
      },
    );
  }
  const canGrant = caps.superuser || (caps.versionNum >= 160000 ? caps.adminOptionOn.includes(role) : caps.createrole);
  if (!canGrant)
    throw new ProvisioningError(
      'AdminLacksPrivilege',
      `admin user ${caps.admin} cannot hand objects to the quarantine role ${role}; as a superuser run: ` +
        `GRANT ${role} TO ${caps.admin} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE`,
    );
  return [];
};

/** Committed on its own, in the admin database (roles are cluster-wide), before any database is visited. */
export const ensureQuarantineRole = async (client: Client, role: string): Promise<SqlStep[]> =>
  inTransaction(client, async () => {
    await lockProjectKey(client, lockKey.role(role));
    const steps = planQuarantineRole(role, await readQuarantineRole(client, role), await readAdminCapabilities(client, [role]));
    for (const s of steps) await client.query(s.sql);
    return steps;
  });
