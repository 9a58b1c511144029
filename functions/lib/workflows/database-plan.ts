import type { Client } from 'pg';
import type { AdminConnector } from '../postgres/admin-session';
import { readOnly } from '../postgres/connection';
import type { SqlStep } from '../postgres/ddl';
import { assertNotProtected, assertOffboardable, listDatabases, planReassignmentHere, versionOf } from '../postgres/offboard';
import { assertDatabasesExist, checkCapabilities, inspectOnboarding, planOnboarding } from '../postgres/onboard';
import { type ObjectDecision, planQuarantineRole, readQuarantineRole } from '../postgres/reassign';
import { ADMIN_HAS_PRIVILEGES_OF, CONNECTABLE_DATABASES, OWNED_PER_DATABASE, SESSION_COUNT } from '../postgres/queries';
import { toProvisioningError } from '../postgres/sqlstate';
import { type DatabaseReview, reviewDatabase, reviewObjects } from '../postgres/review';
import { dbUserSpecOf, type OffboardState, type OnboardState, protectedNamesOf } from './steps';
import { assertCanSignal, readAdminCapabilities, readRoleState } from '../postgres/roles';

/**
 * The database half of a dry run, run where the database steps run (in the VPC): the same
 * inspection and planner as CreateDbUser, and the same refusals as DeactivateDbUser, inside a
 * READ ONLY transaction that is rolled back. Nothing here can change the database.
 */
export interface OnboardingSqlPlan {
  steps: SqlStep[];
  roleExists: boolean;
}

export interface OffboardingSqlPlan {
  canLogin: boolean;
  sessions: number;
  versionNum: number;
  /** Objects the user owns, per database (databases without any are absent). */
  owned: Record<string, number>;
  /** Roles (the user, the successor) the admin must first be granted to act for. */
  adminLacks: string[];
  databases: string[];
  /** Creating the quarantine role, when it is missing. */
  quarantineRole: SqlStep[];
  /** Per database: what happens to each object the user owns, and the statements before REASSIGN OWNED (the run's planner). */
  reassignment: Record<string, { decisions: ObjectDecision[]; steps: SqlStep[] }>;
}

const inspect = async <T>(connect: AdminConnector, database: string, what: string, fn: (client: Client) => Promise<T>): Promise<T> => {
  try {
    return await connect(database, (client) => readOnly(client, () => fn(client)));
  } catch (e) {
    throw toProvisioningError(e, what);
  }
};

export const planOnboardingSql = async (connect: AdminConnector, state: OnboardState): Promise<OnboardingSqlPlan> =>
  inspect(connect, state.target.adminDatabase, `plan database user "${state.request.dbUser}"`, async (client) => {
    const spec = dbUserSpecOf(state);
    const inspection = await inspectOnboarding(client, spec);
    const steps = planOnboarding(inspection, spec);
    checkCapabilities(inspection, spec, steps);
    return { steps, roleExists: inspection.role !== undefined };
  });

/**
 * A request's acceptance (POST /access-requests and its retry, before anything starts): the databases it names exist,
 * by the rule the run and the dry run apply (assertDatabasesExist). Only databases on the target's allow-list are
 * looked up (validation refused any other before), so the answer names nothing the caller may not ask for.
 */
export const checkRequestedDatabases = async (connect: AdminConnector, target: OnboardState['target'], databases: string[]): Promise<{ existing: string[] }> =>
  inspect(connect, target.adminDatabase, `check the databases of target "${target.name}"`, async (client) => {
    const allowed = target.allowedDatabases;
    const asked = databases.filter((d) => allowed.includes(d));
    const { rows } = await client.query<{ name: string }>(CONNECTABLE_DATABASES, [[...new Set([...asked, ...allowed])]]);
    const existing = rows.map((r) => r.name);
    // Not on the allow-list: never looked up, so reported missing (validation has refused it before this runs).
    assertDatabasesExist(databases, existing, allowed);
    return { existing: allowed.filter((d) => existing.includes(d)) };
  });

/** Undefined when the user does not exist (offboarding then ends as "not found"). */
export const planOffboardingSql = async (connect: AdminConnector, { request, target, db }: OffboardState): Promise<OffboardingSqlPlan | undefined> =>
  inspect(connect, target.adminDatabase, `plan offboarding of "${request.dbUser}"`, async (client) => {
    const { dbUser } = request;
    await assertNotProtected(client, dbUser, protectedNamesOf(target, db));
    assertCanSignal(await readAdminCapabilities(client, []));
    const role = await readRoleState(client, dbUser);
    if (!role) return undefined;
    await assertOffboardable(client, dbUser, role, target.successorRole, request.requireOwner, request.idpUser);
    const adminLacks: string[] = [];
    for (const r of [dbUser, target.successorRole]) if (!(await client.query<{ ok: boolean }>(ADMIN_HAS_PRIVILEGES_OF, [r])).rows[0].ok) adminLacks.push(r);
    const settings = target.reassignment;
    const q = settings.quarantineRole;
    const versionNum = await versionOf(client);
    const databases = await listDatabases(client);
    const quarantineRole =
      settings.unsafeObjects === 'quarantine' ? planQuarantineRole(q, await readQuarantineRole(client, q), await readAdminCapabilities(client, [q])) : [];
    const reassignment: OffboardingSqlPlan['reassignment'] = {};
    for (const database of databases) {
      const place = { database, includeShared: database === target.adminDatabase, versionNum };
      const plan = (c: Client) => planReassignmentHere(c, dbUser, target.successorRole, settings, place);
      const { decisions, steps } =
        database === target.adminDatabase
          ? await plan(client)
          : await inspect(connect, database, `plan offboarding of "${dbUser}" in database ${database}`, plan);
      reassignment[database] = { decisions, steps };
    }
    return {
      canLogin: role.canLogin,
      sessions: (await client.query<{ n: number }>(SESSION_COUNT, [dbUser])).rows[0].n,
      versionNum,
      owned: Object.fromEntries((await client.query<{ database: string; n: number }>(OWNED_PER_DATABASE, [dbUser])).rows.map((r) => [r.database, r.n])),
      adminLacks,
      databases,
      quarantineRole,
      reassignment,
    };
  });

/** What the api function sends the database function (dry runs and the access review), and what comes back. */
export type DbPlanInvocation =
  | { kind: 'onboarding'; state: OnboardState }
  | { kind: 'offboarding'; state: OffboardState }
  | { kind: 'review'; state: Pick<OnboardState, 'target' | 'db'>; dbUsers: string[] }
  | { kind: 'databases'; state: Pick<OnboardState, 'target' | 'db'>; databases: string[] };

export const reviewTargetDatabase = async (connect: AdminConnector, { target }: Pick<OnboardState, 'target'>, dbUsers: string[]): Promise<DatabaseReview> =>
  inspect(connect, target.adminDatabase, `review the database users of "${target.name}"`, async (client) => {
    const review = await reviewDatabase(client, dbUsers);
    const { quarantineRole } = target.reassignment;
    const managed = review.managed.map((r) => r.name);
    const quarantined: NonNullable<DatabaseReview['quarantined']> = [];
    const unsafeObjects: NonNullable<DatabaseReview['unsafeObjects']> = [];
    for (const database of await listDatabases(client)) {
      const read = (c: Client) => reviewObjects(c, database, managed, target.successorRole, quarantineRole, database === target.adminDatabase);
      const here =
        database === target.adminDatabase
          ? await read(client)
          : await inspect(connect, database, `review the objects in database ${database} of "${target.name}"`, read);
      quarantined.push(...here.quarantined);
      unsafeObjects.push(...here.unsafeObjects);
    }
    return { ...review, quarantined, unsafeObjects };
  });

/** Refusals are answers, not function errors: they keep their code and details across the Lambda boundary. */
export type DbPlanAnswer<T> = { result: T } | { error: { error: string; message: string; details?: Record<string, unknown> } };
