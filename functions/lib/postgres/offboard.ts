import type { Client } from 'pg';
import type { PrincipalArn } from '../core/arn';
import type { ReassignmentSettings } from '../core/config';
import { ProvisioningError } from '../core/errors';
import { MARKER_ROLE, type ProtectedNames, protectedReason } from '../core/identifiers';
import { inTransaction } from './connection';
import { batchOf, ddl, offboardDdl, type SqlStep } from './ddl';
import {
  ADMIN_HAS_PRIVILEGES_OF,
  CURRENT_USER,
  DATABASES_NAMING,
  EXISTING_ROLES,
  MEMBERSHIP_GRANTORS,
  OWNED_IN_CURRENT_DATABASE,
  REMAINING_DEPENDENCIES,
  SERVER_VERSION,
  SESSION_COUNT,
  TERMINATE_SESSIONS,
  USER_DATABASES,
} from './queries';
import { type ObjectDecision, planReassignment, readOwnedObjects } from './reassign';
import { SQLSTATE, sqlstateOf, toProvisioningError } from './sqlstate';
import { lockProjectKey } from './watchdog';
import { retireInDatabase } from '../workflows/offboarding-plan';
import {
  assertCanSignal,
  assertOwnedBy,
  assertRecordedFor,
  grantorAccess,
  isManaged,
  lockKey,
  type MembershipGrant,
  membershipRevokes,
  readAdminCapabilities,
  readGrantor,
  readRoleState,
  type RoleState,
} from './roles';

export const versionOf = async (client: Client): Promise<number> => (await client.query<{ v: number }>(SERVER_VERSION)).rows[0].v;

const currentUser = async (client: Client): Promise<string> => (await client.query<{ u: string }>(CURRENT_USER)).rows[0].u;

/** Refuses a protected name, for this admin; the same check serves the run and the dry run. */
export const assertNotProtected = async (client: Client, dbUser: string, names: ProtectedNames): Promise<void> => {
  const reason = protectedReason(dbUser, { ...names, adminUser: await currentUser(client) });
  if (reason) throw new ProvisioningError('ProtectedRole', `dbUser: "${dbUser}" cannot be offboarded: ${reason}`, { details: { field: 'dbUser', reason } });
};

/** Refuses a role this project does not own, or offboarding without a successor to receive its objects. */
export const assertOffboardable = async (
  client: Client,
  dbUser: string,
  role: RoleState,
  successorRole: string,
  requireOwner?: PrincipalArn,
  idpUser?: string,
): Promise<void> => {
  if (!isManaged(role)) {
    throw new ProvisioningError(
      'UnmanagedRoleConflict',
      `database role "${dbUser}" was not created by this project (it is not a member of ${MARKER_ROLE}); it is left untouched`,
      {
        details: { field: 'dbUser' },
      },
    );
  }
  if (requireOwner) assertOwnedBy(dbUser, role, requireOwner);
  if (idpUser) assertRecordedFor(dbUser, role, idpUser);
  if ((await client.query(EXISTING_ROLES, [[successorRole]])).rowCount === 0) {
    throw new ProvisioningError(
      'ConfigurationError',
      `successor role "${successorRole}" does not exist on the target; create it before offboarding so no object is lost`,
    );
  }
};

export interface DeactivateResult {
  found: boolean;
  loginBlocked: boolean;
  sessionsTerminated: number;
  statements: SqlStep[];
}

/**
 * DeactivateDbUser in the database: refuse what this project must not touch, then
 * `NOLOGIN` committed on its own (the database is the authoritative switch: IAM
 * administrators can connect without any rds-db:connect statement), then end the sessions
 * and check that none is left.
 */
export const deactivateDbUser = async (
  client: Client,
  dbUser: string,
  names: ProtectedNames & { successorRole: string },
  requireOwner?: PrincipalArn,
  idpUser?: string,
): Promise<DeactivateResult> => {
  try {
    await assertNotProtected(client, dbUser, names);
    assertCanSignal(await readAdminCapabilities(client, []));
    const blocked = await inTransaction(client, async () => {
      await lockProjectKey(client, lockKey.role(dbUser));
      const role = await readRoleState(client, dbUser);
      if (!role) return undefined;
      await assertOffboardable(client, dbUser, role, names.successorRole, requireOwner, idpUser);
      const steps = role.canLogin ? [offboardDdl.blockLogin(dbUser)] : [];
      for (const s of steps) await client.query(s.sql);
      return { steps };
    });
    if (!blocked) return { found: false, loginBlocked: false, sessionsTerminated: 0, statements: [] };
    const version = await versionOf(client);
    const { rows } = await client.query<{ terminated: number }>(TERMINATE_SESSIONS(version), [dbUser]);
    const left = (await client.query<{ n: number }>(SESSION_COUNT, [dbUser])).rows[0].n;
    if (left > 0)
      throw new ProvisioningError('TransientDatabaseError', `${left} session(s) of "${dbUser}" are still open after pg_terminate_backend; retrying`);
    return { found: true, loginBlocked: true, sessionsTerminated: rows[0].terminated, statements: blocked.steps };
  } catch (e) {
    throw toProvisioningError(e, `deactivate database user "${dbUser}"`);
  }
};

/**
 * Lets the admin act with the privileges of `role` (REASSIGN/DROP OWNED require them for both
 * the user and the successor). Committed on its own; granting the user to the admin ends with
 * the user's DROP ROLE, the successor membership stays (documented).
 */
export const ensureAdminPrivilegesOf = async (client: Client, role: string): Promise<SqlStep[]> =>
  inTransaction(client, async () => {
    await lockProjectKey(client, lockKey.role(role));
    if ((await client.query<{ ok: boolean }>(ADMIN_HAS_PRIVILEGES_OF, [role])).rows[0].ok) return [];
    const step = offboardDdl.inheritRole(role, await versionOf(client));
    await client.query(step.sql);
    return [step];
  });

export const listDatabases = async (client: Client): Promise<string[]> => (await client.query<{ name: string }>(USER_DATABASES)).rows.map((r) => r.name);

export interface ReassignedHere {
  owned: number;
  objects: ObjectDecision[];
  statements: SqlStep[];
}

export interface ReassignPlace {
  database: string;
  /** Shared objects (databases, tablespaces) are listed in one database only: the admin database. */
  includeShared: boolean;
  versionNum: number;
}

/** What the user owns in the database `client` is connected to, decided object by object, with the statements that carry it out. */
export const planReassignmentHere = async (
  client: Client,
  dbUser: string,
  successor: string,
  settings: ReassignmentSettings,
  place: ReassignPlace,
): Promise<{ owned: number; decisions: ObjectDecision[]; steps: SqlStep[] }> => {
  const owned = (await client.query<{ n: number }>(OWNED_IN_CURRENT_DATABASE, [dbUser])).rows[0].n;
  const { objects, hooks } = await readOwnedObjects(client, [dbUser], successor, settings.quarantineRole, place.includeShared);
  return { owned, ...planReassignment(objects, hooks, place.database, settings, place.versionNum) };
};

/**
 * In the database `client` is connected to: make the user's unsafe objects harmless (quarantine,
 * disable), hand the rest to the successor, then drop its privileges; one transaction, so REASSIGN
 * OWNED (which moves everything still owned) never sees an unsafe object.
 */
export const reassignOwnedHere = async (
  client: Client,
  dbUser: string,
  successor: string,
  settings: ReassignmentSettings,
  place: ReassignPlace,
): Promise<ReassignedHere> => {
  try {
    return await inTransaction(client, async () => {
      // DROP OWNED also revokes grants on databases (shared rows, whichever database it runs in): the same keys
      // onboarding takes before GRANT CONNECT, sorted, so concurrent rewrites of one row wait instead of failing (internal_error: tuple concurrently updated).
      for (const { name } of (await client.query<{ name: string }>(DATABASES_NAMING, [dbUser])).rows) await lockProjectKey(client, lockKey.database(name));
      const { owned, decisions, steps } = await planReassignmentHere(client, dbUser, successor, settings, place);
      for (const s of retireInDatabase(dbUser, successor, steps)) await client.query(s.sql);
      return { owned, objects: decisions, statements: steps };
    });
  } catch (e) {
    throw toProvisioningError(e, `reassign what "${dbUser}" owns in database ${place.database}`);
  }
};

export type DropOutcome =
  | { status: 'dropped' | 'already gone'; statements: SqlStep[] }
  | { status: 'deactivated-not-dropped'; statements: SqlStep[]; remainingDependencies: Array<{ database: string; kind: string; count: number }> };

/** Drops the role; if something still depends on it (dependent_objects_still_exist), leaves it NOLOGIN without memberships and says what. */
export const dropManagedRole = async (client: Client, dbUser: string): Promise<DropOutcome> => {
  try {
    return await inTransaction(client, async () => {
      await lockProjectKey(client, lockKey.role(dbUser));
      const role = await readRoleState(client, dbUser);
      if (!role) return { status: 'already gone' as const, statements: [] };
      if (!isManaged(role)) throw new ProvisioningError('UnmanagedRoleConflict', `database role "${dbUser}" is not managed by this project; not dropping it`);
      const step = ddl.dropRole(dbUser);
      await client.query(step.sql);
      return { status: 'dropped' as const, statements: [step] };
    });
  } catch (e) {
    if (sqlstateOf(e) !== SQLSTATE.dependentObjectsStillExist) throw toProvisioningError(e, `drop database user "${dbUser}"`);
  }
  try {
    return await inTransaction(client, async () => {
      const role = await readRoleState(client, dbUser);
      const grants = (await client.query<MembershipGrant>(MEMBERSHIP_GRANTORS, [dbUser])).rows;
      const revokes = (role?.memberOf ?? []).filter((g) => g !== MARKER_ROLE).flatMap((g) => membershipRevokes(g, dbUser, grants));
      let access: SqlStep[] = [];
      if (revokes.some((s) => s.asGrantor)) {
        const caps = await readAdminCapabilities(client, []);
        access = grantorAccess(await readGrantor(client, caps, []), caps.admin);
      }
      const statements = [...(role?.canLogin ? [offboardDdl.blockLogin(dbUser)] : []), ...access, ...revokes];
      if (statements.length) await client.query(batchOf(statements));
      const deps = await client.query<{ database: string; kind: string; n: number }>(REMAINING_DEPENDENCIES, [dbUser]);
      return {
        status: 'deactivated-not-dropped' as const,
        statements,
        remainingDependencies: deps.rows.map((r) => ({ database: r.database, kind: r.kind, count: r.n })),
      };
    });
  } catch (e) {
    throw toProvisioningError(e, `deactivate database user "${dbUser}" after DROP ROLE failed`);
  }
};
