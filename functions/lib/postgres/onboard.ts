import type { Client } from 'pg';
import { type PrincipalArn, sameRoleOrUser } from '../core/arn';
import { ProvisioningError } from '../core/errors';
import { MARKER_ROLE, type ProtectedNames, protectedReason, RDS_IAM_ROLE } from '../core/identifiers';
import { batchOf, ddl, parseRoleComment, type SqlStep } from './ddl';
import { DATABASE_CONNECT_STATE, EXISTING_ROLES, MEMBERSHIP_GRANTORS } from './queries';
import { inTransaction } from './connection';
import { toProvisioningError } from './sqlstate';
import { lockProjectKey } from './watchdog';
import {
  type AdminCapabilities,
  type RoleState,
  type GrantorState,
  type MembershipGrant,
  lockKey,
  readRoleState,
  isManaged,
  assertRecordedFor,
  assertOwnedBy,
  assertNotRecreated,
  readAdminCapabilities,
  readGrantor,
  usable,
  grantorAccess,
  revokedBy,
  membershipRevokes,
  readAdminOptionOn,
} from './roles';

export interface DbUserSpec {
  dbUser: string;
  requestId: string;
  principalArn?: string;
  /** The principal's IAM unique id, recorded with a new user and compared with an existing user's record. */
  principalId?: string;
  dbRoles: string[];
  databases: string[];
  protectedNames: ProtectedNames;
  /** Self-service: an existing database user must have been created for this principal. */
  requireOwner?: PrincipalArn;
  /** Identity-provider requests: the person, recorded in the role comment. */
  idpUser?: string;
  /** Group roles the request may also take away (those of them not in dbRoles): the target's allow-list, for requests that state all roles. */
  revokableRoles?: string[];
  /** The target's allow-list of databases: a refusal of a missing database says which of them exist. */
  allowedDatabases?: string[];
}

export interface OnboardInspection {
  /** With a grantor, adminOptionOn covers only the roles the grantor lacks (the admin's own check is the costly one). */
  capabilities: AdminCapabilities;
  /** Undefined: memberships are granted as the admin (PostgreSQL before 16, or a superuser admin). */
  grantor?: GrantorState;
  /** Who granted the user's memberships; read only when the request takes roles away. */
  membershipGrants?: MembershipGrant[];
  role?: RoleState;
  markerExists: boolean;
  existingRoles: string[];
  databases: Array<{ name: string; adminCanGrant: boolean; userHasConnect: boolean }>;
  /** Of the requested and the allowed databases, those that exist and allow connections. */
  existingDatabases: string[];
}

export type DbUserOutcome = 'created' | 'updated' | 'already present';

export interface EnsureDbUserResult {
  dbUser: string;
  outcome: DbUserOutcome;
  /** True when the role exists because of this request (also on a retry after the commit). */
  createdByThisRequest: boolean;
  statements: SqlStep[];
}

export const inspectOnboarding = async (client: Client, spec: DbUserSpec): Promise<OnboardInspection> => {
  const grantable = [RDS_IAM_ROLE, MARKER_ROLE, ...spec.dbRoles, ...(spec.revokableRoles ?? [])];
  // Roles first, capabilities after (each statement sees what committed before it): a marker role another request
  // just created is then seen with the ADMIN OPTION its creation gave the admin, never without it.
  const existing = await client.query<{ name: string }>(EXISTING_ROLES, [grantable]);
  const base = await readAdminCapabilities(client, []);
  const grantor = await readGrantor(client, base, grantable);
  const role = await readRoleState(client, spec.dbUser);
  const revoked = revokedRoles(role, spec);
  const membershipGrants = revoked.length ? (await client.query<MembershipGrant>(MEMBERSHIP_GRANTORS, [spec.dbUser])).rows : undefined;
  // The admin's own ADMIN OPTION is the costly check (it walks every role the admin created): with a grantor it is
  // asked only about roles this request hands the grantor and roles the admin must revoke itself.
  const planned = membershipPlan({ role, grantor, membershipGrants }, spec);
  const askAdmin = usable(grantor) ? [...new Set([...planned.grantorNeeds, ...planned.adminRevokes])] : grantable;
  const capabilities = { ...base, adminOptionOn: await readAdminOptionOn(client, askAdmin) };
  // The allowed databases too (one query): what exists is named when a requested one does not.
  const databases = await client.query<{ name: string; admin_can_grant: boolean; user_has_connect: boolean }>(DATABASE_CONNECT_STATE, [
    [...new Set([...spec.databases, ...(spec.allowedDatabases ?? [])])],
    spec.dbUser,
  ]);
  const existingRoles = existing.rows.map((r) => r.name);
  return {
    capabilities,
    ...(grantor ? { grantor } : {}),
    ...(membershipGrants ? { membershipGrants } : {}),
    role,
    markerExists: existingRoles.includes(MARKER_ROLE),
    existingRoles,
    databases: databases.rows
      .filter((d) => spec.databases.includes(d.name))
      .map((d) => ({ name: d.name, adminCanGrant: d.admin_can_grant, userHasConnect: d.user_has_connect })),
    existingDatabases: databases.rows.map((d) => d.name),
  };
};

/**
 * The rule for the databases a request names (CONNECT on each): they exist on the target and allow connections. One
 * rule for a request's acceptance (the API, before anything starts), its dry run and the run (CreateDbUser, which
 * sees the database as it is then). `existing`: which of the requested and allowed databases exist; the refusal
 * names those of the allowed ones, so the caller learns what it may ask for instead.
 */
export const assertDatabasesExist = (requested: readonly string[], existing: readonly string[], allowed: readonly string[] = []): void => {
  const missing = requested.filter((d) => !existing.includes(d));
  if (!missing.length) return;
  const available = allowed.filter((d) => existing.includes(d));
  const list = (xs: readonly string[]): string => xs.map((x) => `"${x}"`).join(', ');
  const NONE_EXISTS = 'none of the databases this target allows exists';
  throw new ProvisioningError(
    'UnknownDatabase',
    `databases: ${list(missing)} ${missing.length === 1 ? 'does' : 'do'} not exist on the target ` +
      `(or ${missing.length === 1 ? 'does' : 'do'} not allow ` +
      `connections); ${available.length ? `of the databases this target allows, these exist: ${list(available)}` : NONE_EXISTS}`,
    { details: { field: 'databases', databases: missing, existing: available } },
  );
};

/** Group roles the user holds that a request stating all its roles no longer includes. */
const revokedRoles = (role: RoleState | undefined, spec: DbUserSpec): string[] =>
  (role?.memberOf ?? []).filter((g) => spec.revokableRoles?.includes(g) && !spec.dbRoles.includes(g));
/**
 * How the memberships a plan changes are granted: which roles the grantor must first be given (the admin needs
 * ADMIN OPTION on those), and which REVOKEs the admin runs itself. One rule for the plan and for checkCapabilities.
 */
const membershipPlan = (
  inspection: Pick<OnboardInspection, 'role' | 'grantor' | 'membershipGrants'>,
  spec: DbUserSpec,
): { granted: string[]; grantorNeeds: string[]; revokes: SqlStep[]; adminRevokes: string[] } => {
  const role = inspection.role;
  const memberOf = role?.memberOf ?? [];
  const granted = [...(role ? [] : [MARKER_ROLE]), ...[RDS_IAM_ROLE, ...spec.dbRoles].filter((g) => !memberOf.includes(g))];
  const g = inspection.grantor;
  const grantorNeeds = usable(g) ? granted.filter((r) => !g.adminOn.includes(r)) : [];
  const revoked = revokedRoles(role, spec);
  const revokes = revoked.flatMap((group) => membershipRevokes(group, spec.dbUser, inspection.membershipGrants));
  return { granted, grantorNeeds, revokes, adminRevokes: revoked.filter((group) => revokedBy(group, inspection.membershipGrants).admin) };
};

/**
 * The statements that bring the database user to the requested state, or an error that says
 * why it must not be touched. Pure: the same plan serves the run and a dry run.
 */
export const planOnboarding = (inspection: OnboardInspection, spec: DbUserSpec): SqlStep[] => {
  const { dbUser } = spec;
  const reason = protectedReason(dbUser, { ...spec.protectedNames, adminUser: inspection.capabilities.admin });
  if (reason) throw new ProvisioningError('ProtectedRole', `dbUser: "${dbUser}" cannot be managed: ${reason}`, { details: { field: 'dbUser', reason } });
  if (!inspection.existingRoles.includes(RDS_IAM_ROLE)) {
    throw new ProvisioningError('TargetNotSupported', `role ${RDS_IAM_ROLE} does not exist on this server: is this an RDS or Aurora PostgreSQL database?`);
  }
  const missingGroups = spec.dbRoles.filter((r) => !inspection.existingRoles.includes(r));
  if (missingGroups.length) {
    throw new ProvisioningError(
      'UnknownGroupRole',
      `dbRoles: ${missingGroups.join(', ')} do(es) not exist on the target; a DBA creates group roles before they are put on the allow-list`,
      {
        details: { field: 'dbRoles', roles: missingGroups },
      },
    );
  }
  assertDatabasesExist(spec.databases, inspection.existingDatabases, spec.allowedDatabases);

  const role = inspection.role;
  if (role && !isManaged(role)) {
    throw new ProvisioningError(
      'UnmanagedRoleConflict',
      `database role "${dbUser}" already exists and was not created by this project; ` +
        `it is left untouched (granting rds_iam would lock out its password login). Choose another dbUser, ` +
        `or have a DBA adopt it by granting ${MARKER_ROLE}.`,
      {
        details: { field: 'dbUser' },
      },
    );
  }
  if (role) assertNotRecreated(dbUser, role, spec.principalArn, spec.principalId);
  // Self-service: the request's principal is the caller's own, so its unique id is the owner's.
  if (role && spec.requireOwner)
    assertOwnedBy(dbUser, role, spec.requireOwner, sameRoleOrUser(spec.principalArn, spec.requireOwner.arn) ? spec.principalId : undefined);
  if (role && spec.idpUser) assertRecordedFor(dbUser, role, spec.idpUser);
  if (role?.superuser) {
    throw new ProvisioningError('UnmanagedRoleConflict', `database role "${dbUser}" has been made SUPERUSER outside this project; refusing to manage it`);
  }

  const steps: SqlStep[] = [];
  if (!inspection.markerExists) steps.push(ddl.createMarkerRole(), ddl.commentMarkerRole());
  const grantor = usable(inspection.grantor) ? inspection.grantor : undefined;
  const memberships = membershipPlan(inspection, spec);
  const grantsAsGrantor = grantor !== undefined && memberships.granted.length > 0;
  if (grantsAsGrantor) {
    if (!grantor.exists) steps.push(ddl.createGrantorRole(), ddl.commentGrantorRole());
    steps.push(...grantorAccess(grantor, inspection.capabilities.admin));
    steps.push(...memberships.grantorNeeds.map((r) => ddl.grantAdminOptionToGrantor(r)));
  } else if (memberships.revokes.some((s) => s.asGrantor)) {
    // Only taking back what the grantor granted: the admin must still be able to act as it.
    steps.push(...grantorAccess(inspection.grantor, inspection.capabilities.admin));
  }
  if (!role) {
    steps.push(
      ddl.createUser(dbUser),
      ddl.commentUser(dbUser, { createdBy: spec.requestId, principal: spec.principalArn, principalId: spec.principalId, idpUser: spec.idpUser }),
    );
  } else if (!role.canLogin) {
    steps.push(ddl.enableLogin(dbUser));
  }
  for (const group of memberships.granted) steps.push(ddl.grantRole(group, dbUser, grantsAsGrantor));
  steps.push(...memberships.revokes);
  for (const db of inspection.databases) {
    if (!db.userHasConnect) steps.push(ddl.grantConnect(db.name, dbUser));
  }
  return steps;
};
/**
 * Fails before the first change when the admin cannot carry the plan out, saying what to
 * grant. PostgreSQL 16 made CREATEROLE alone insufficient to grant a role: the grantor needs
 * ADMIN OPTION on it (a role's creator gets that automatically).
 */
export const checkCapabilities = (inspection: OnboardInspection, spec: DbUserSpec, steps: SqlStep[]): void => {
  const caps = inspection.capabilities;
  if (caps.superuser || steps.length === 0) return;
  const problems: string[] = [];
  if (!caps.createrole) problems.push(`ALTER ROLE ${caps.admin} CREATEROLE`);
  // Checked at the first onboarding, so no user exists that this admin could not offboard against a hostile login.
  if (!caps.canSignal) problems.push(`GRANT pg_signal_backend TO ${caps.admin}`);
  if (caps.versionNum >= 160000) {
    // Granting and revoking a membership both need ADMIN OPTION on the role: the admin's own for what it grants or
    // revokes itself, and for what it hands the grantor; a marker role it creates in this plan it holds already.
    const memberships = membershipPlan(inspection, spec);
    const byAdmin = usable(inspection.grantor) ? memberships.grantorNeeds : [RDS_IAM_ROLE, ...spec.dbRoles, MARKER_ROLE];
    const granted = [...new Set([...byAdmin, ...memberships.adminRevokes])].filter((r) => inspection.markerExists || r !== MARKER_ROLE);
    for (const r of granted) {
      if (!caps.adminOptionOn.includes(r)) problems.push(`GRANT ${r} TO ${caps.admin} WITH ADMIN OPTION`);
    }
  }
  for (const db of inspection.databases) {
    if (!db.userHasConnect && !db.adminCanGrant) problems.push(`GRANT CONNECT ON DATABASE ${db.name} TO ${caps.admin} WITH GRANT OPTION`);
  }
  if (problems.length) {
    throw new ProvisioningError(
      'AdminLacksPrivilege',
      `admin user ${caps.admin} cannot provision "${spec.dbUser}"; as a superuser or the role owner run: ${problems.join('; ')}`,
      {
        details: { missing: problems },
      },
    );
  }
};

const outcomeOf = (role: RoleState | undefined, steps: SqlStep[]): DbUserOutcome => (!role ? 'created' : steps.length ? 'updated' : 'already present');

/**
 * Creates or updates the database user in one transaction. Idempotent: a second run with
 * the same spec plans nothing and changes nothing.
 */
export const ensureDbUser = async (client: Client, spec: DbUserSpec): Promise<EnsureDbUserResult> => {
  try {
    return await inTransaction(client, async () => {
      await lockProjectKey(client, lockKey.role(spec.dbUser));
      const inspection = await inspectOnboarding(client, spec);
      const steps = planOnboarding(inspection, spec);
      checkCapabilities(inspection, spec, steps);
      // The project's own roles (the marker, the grantor) are set up by one request at a time: the others then see
      // them, or fail with duplicate_object and are retried.
      if (steps.some((s) => s.projectRole)) await lockProjectKey(client, lockKey.marker());
      // Sorted, so two requests granting on the same databases never wait on each other in a cycle.
      const aclChanges = inspection.databases
        .filter((d) => !d.userHasConnect)
        .map((d) => d.name)
        .sort();
      for (const db of aclChanges) await lockProjectKey(client, lockKey.database(db));
      // One round trip for all of them: the database's key (every onboarding on that database waits for it) is then
      // held for this batch and the COMMIT only, not for a round trip per statement.
      if (steps.length) await client.query(batchOf(steps));
      const createdBy = inspection.role ? parseRoleComment(inspection.role.comment)?.createdBy : spec.requestId;
      return { dbUser: spec.dbUser, outcome: outcomeOf(inspection.role, steps), createdByThisRequest: createdBy === spec.requestId, statements: steps };
    });
  } catch (e) {
    throw toProvisioningError(e, `provision database user "${spec.dbUser}"`);
  }
};
