import type { Client } from 'pg';
import { type PrincipalArn, sameRoleOrUser } from '../core/arn';
import { ProvisioningError } from '../core/errors';
import { GRANTOR_ROLE, MARKER_ROLE, type ProtectedNames, protectedReason, RDS_IAM_ROLE } from '../core/identifiers';
import { batchOf, ddl, offboardDdl, parseRoleComment, type SqlStep } from './ddl';
import { ADMIN_CAPABILITIES, ADMIN_OPTION_ON, DATABASE_CONNECT_STATE, EXISTING_ROLES, GRANTOR_STATE, MEMBERSHIP_GRANTORS, ROLE_STATE } from './queries';
import { inTransaction } from './connection';
import { toProvisioningError } from './sqlstate';
import { lockProjectKey } from './watchdog';

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

export interface AdminCapabilities {
  admin: string;
  superuser: boolean;
  createrole: boolean;
  /** May end other roles' sessions (pg_signal_backend): without it a hostile login can hold up offboarding. */
  canSignal: boolean;
  versionNum: number;
  /** Roles on which the admin holds ADMIN OPTION. */
  adminOptionOn: string[];
}

export interface RoleState {
  canLogin: boolean;
  superuser: boolean;
  comment: string | null;
  memberOf: string[];
}

/** The grantor role (GRANTOR_ROLE) as it stands; inspected on PostgreSQL 16+ with an admin that is no superuser. */
export interface GrantorState {
  exists: boolean;
  adminCanSet: boolean;
  /** It created the role (or was given ADMIN on it), so it may grant itself SET. */
  adminCanAdmin: boolean;
  /** Of the roles this request may grant or revoke, those the grantor holds ADMIN OPTION on. */
  adminOn: string[];
}

/** One membership of the user and the role that granted it: a REVOKE removes only its own role's grants. */
export interface MembershipGrant {
  role: string;
  grantor: string;
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

export const lockKey = {
  role: (name: string): string => `rds-iam-access:role:${name}`,
  database: (name: string): string => `rds-iam-access:database:${name}`,
  marker: (): string => `rds-iam-access:marker`,
};

export const readRoleState = async (client: Client, name: string): Promise<RoleState | undefined> => {
  const { rows } = await client.query<{ can_login: boolean; superuser: boolean; comment: string | null; member_of: string[] }>(ROLE_STATE, [name]);
  const r = rows[0];
  return r && { canLogin: r.can_login, superuser: r.superuser, comment: r.comment, memberOf: r.member_of };
};

export const isManaged = (role: RoleState): boolean => role.memberOf.includes(MARKER_ROLE);

/** Identity-provider requests change only a database user recorded for the same person: a templated name proves nothing. */
export const assertRecordedFor = (dbUser: string, role: RoleState, idpUser: string): void => {
  const recorded = parseRoleComment(role.comment)?.idpUser;
  if (recorded !== idpUser) {
    throw new ProvisioningError(
      'NotAuthorized',
      `database user "${dbUser}" was not created for identity-provider person ${idpUser} ` +
        `(recorded: ${recorded ?? 'none'}); an administrator must resolve the name clash`,
      {
        details: { reason: 'not recorded for this person', field: 'dbUser' },
      },
    );
  }
};

/**
 * Self-service callers may change only database users created for their own principal (the role
 * comment records it): a name alone does not say whose a database user is.
 */
export const assertOwnedBy = (dbUser: string, role: RoleState, owner: PrincipalArn, ownerId?: string): void => {
  const recorded = parseRoleComment(role.comment);
  // By name (names are unique per account), and by unique id when both are known.
  const same =
    sameRoleOrUser(recorded?.principal, owner.arn) && (ownerId === undefined || recorded?.principalId === undefined || recorded.principalId === ownerId);
  if (!same) {
    throw new ProvisioningError(
      'NotAuthorized',
      `database user "${dbUser}" belongs ` +
        `to ${recorded?.principal ?? 'no recorded principal'}${recorded?.principalId ? ` (unique id ${recorded.principalId})` : ''}, ` +
        `not to ${owner.arn}${ownerId ? ` (unique id ${ownerId})` : ''}; only an administrator may change it`,
      {
        details: { reason: 'not own database user', field: 'dbUser' },
      },
    );
  }
};

/**
 * A database user recorded for one incarnation of a principal is not handed to a later principal
 * of the same name (deleted and created again, perhaps by someone else to inherit the access).
 */
export const assertNotRecreated = (dbUser: string, role: RoleState, principalArn: string | undefined, principalId: string | undefined): void => {
  const recorded = parseRoleComment(role.comment);
  if (!recorded?.principalId || !principalId || recorded.principalId === principalId || !sameRoleOrUser(recorded.principal, principalArn)) return;
  throw new ProvisioningError(
    'PrincipalRecreated',
    `dbUser: "${dbUser}" was created for an earlier IAM principal named like ${principalArn} (unique ` +
      `id ${recorded.principalId}), which was deleted; this one is a new principal (unique ` +
      `id ${principalId}). Offboard the old database user first, or choose another dbUser`,
    { details: { field: 'dbUser', recordedPrincipalId: recorded.principalId, principalId } },
  );
};

/** Of `roles`, those the admin holds ADMIN OPTION on. On PostgreSQL 16+ each is a walk of every role the admin created. */
const readAdminOptionOn = async (client: Client, roles: string[]): Promise<string[]> =>
  roles.length
    ? (await client.query<{ rolname: string; has_admin_option: boolean }>(ADMIN_OPTION_ON, [roles])).rows
        .filter((r) => r.has_admin_option)
        .map((r) => r.rolname)
    : [];

export const readAdminCapabilities = async (client: Client, roles: string[]): Promise<AdminCapabilities> => {
  const { rows } = await client.query<{ admin: string; superuser: boolean; createrole: boolean; can_signal: boolean; version_num: number }>(ADMIN_CAPABILITIES);
  const admin = rows[0];
  return {
    admin: admin.admin,
    superuser: admin.superuser,
    createrole: admin.createrole,
    canSignal: admin.can_signal,
    versionNum: admin.version_num,
    adminOptionOn: await readAdminOptionOn(client, roles),
  };
};

/**
 * On PostgreSQL 16+ with an admin that is no superuser, the grantor role as it stands; undefined before 16 (no creator
 * memberships) and for a superuser (no checks): memberships are then granted as the admin. A grantor that is not
 * provably the admin's alone (another member, such as a CREATEROLE role that created it first and handed it over; an
 * attribute beyond NOLOGIN; a membership it could use) is refused: acting as it would hand its ADMIN OPTIONs to them.
 */
export const readGrantor = async (client: Client, caps: AdminCapabilities, grantable: string[]): Promise<GrantorState | undefined> => {
  if (caps.superuser || caps.versionNum < 160000) return undefined;
  const g = (
    await client.query<{
      grantor_exists: boolean;
      admin_can_set: boolean;
      admin_can_admin: boolean;
      admin_on: string[];
      other_members: string[];
      has_attributes: boolean | null;
      uses_memberships: boolean;
    }>(GRANTOR_STATE, [GRANTOR_ROLE, grantable])
  ).rows[0];
  // Only a grantor this admin would act as is checked: one it has no part in (another admin's) is simply not used.
  const ours = g.admin_can_set || g.admin_can_admin;
  if (g.grantor_exists && ours && (g.other_members.length || g.has_attributes || g.uses_memberships)) {
    const why = [
      ...(g.other_members.length ? [`other members: ${g.other_members.join(', ')}`] : []),
      ...(g.has_attributes ? ['attributes beyond NOLOGIN'] : []),
      ...(g.uses_memberships ? ['memberships with INHERIT or SET'] : []),
    ];
    throw new ProvisioningError(
      'ConfigurationError',
      `role ${GRANTOR_ROLE} is not this admin's alone (${why.join('; ')}): ` +
        `memberships are not granted as it. A DBA checks who set it up, ` +
        `drops it (DROP OWNED BY ${GRANTOR_ROLE}; DROP ROLE ${GRANTOR_ROLE}, ` +
        `then onboard again to restore the memberships it granted) or removes what does not belong`,
      { details: { role: GRANTOR_ROLE, otherMembers: g.other_members } },
    );
  }
  return { exists: g.grantor_exists, adminCanSet: g.admin_can_set, adminCanAdmin: g.admin_can_admin, adminOn: g.admin_on };
};

/** Whether memberships can be granted as the grantor: it is still to be created, or the admin may SET to it or grant itself that. */
const usable = (g: GrantorState | undefined): g is GrantorState => g !== undefined && (!g.exists || g.adminCanSet || g.adminCanAdmin);

/**
 * What the admin must do before it acts as the grantor: nothing, grant itself SET (it created the role), or, when it
 * may not, the GRANT a DBA runs (a grantor another admin created). One rule for onboarding and deactivation.
 */
export const grantorAccess = (g: GrantorState | undefined, admin: string): SqlStep[] => {
  if (g?.adminCanSet) return [];
  if (g && (!g.exists || g.adminCanAdmin)) return [ddl.letAdminActAsGrantor()];
  throw new ProvisioningError(
    'AdminLacksPrivilege',
    `admin user ${admin} cannot act as ${GRANTOR_ROLE}, which granted memberships it must revoke; ` +
      `as a superuser or the role's creator run: GRANT ${GRANTOR_ROLE} TO ${admin} WITH INHERIT ` +
      `FALSE, SET TRUE`,
    {
      details: { missing: [`GRANT ${GRANTOR_ROLE} TO ${admin} WITH INHERIT FALSE, SET TRUE`] },
    },
  );
};

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

/** The REVOKEs that take `group` from the user: one per kind of grantor its memberships have (the grantor's, anyone else's). */
const revokedBy = (group: string, grants: readonly MembershipGrant[] | undefined): { grantor: boolean; admin: boolean } => {
  const grantors = (grants ?? []).filter((m) => m.role === group).map((m) => m.grantor);
  return { grantor: grantors.includes(GRANTOR_ROLE), admin: grantors.length === 0 || grantors.some((g) => g !== GRANTOR_ROLE) };
};

export const membershipRevokes = (group: string, dbUser: string, grants: readonly MembershipGrant[] | undefined): SqlStep[] => {
  const by = revokedBy(group, grants);
  return [...(by.grantor ? [offboardDdl.revokeRole(group, dbUser, true)] : []), ...(by.admin ? [offboardDdl.revokeRole(group, dbUser)] : [])];
};

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

/** Offboarding refuses an admin that could not end the sessions in its way, before it waits on anything. */
export const assertCanSignal = (caps: AdminCapabilities): void => {
  if (!caps.canSignal) {
    throw new ProvisioningError(
      'AdminLacksPrivilege',
      `admin user ${caps.admin} cannot end other roles' sessions, so any login could hold up this ` +
        `offboarding; as a superuser or rds_superuser run: GRANT pg_signal_backend TO ${caps.admin}`,
      {
        details: { missing: [`GRANT pg_signal_backend TO ${caps.admin}`] },
      },
    );
  }
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
