import type { Client } from 'pg';
import { type PrincipalArn, sameRoleOrUser } from '../core/arn';
import { ProvisioningError } from '../core/errors';
import { GRANTOR_ROLE, MARKER_ROLE } from '../core/identifiers';
import { ddl, offboardDdl, parseRoleComment, type SqlStep } from './ddl';
import { ADMIN_CAPABILITIES, ADMIN_OPTION_ON, GRANTOR_STATE, ROLE_STATE } from './queries';

/**
 * The role primitives every step uses on a database user: its state as the catalog shows it, whether this project
 * manages it and for whom, the project's lock keys, what the admin may do, and how a membership is revoked. Onboarding,
 * offboarding, compensation, the end of a grant and the review import them from here.
 */
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

/** Of `roles`, those the admin holds ADMIN OPTION on. On PostgreSQL 16+ each is a walk of every role the admin created. */
export const readAdminOptionOn = async (client: Client, roles: string[]): Promise<string[]> =>
  roles.length
    ? (await client.query<{ rolname: string; has_admin_option: boolean }>(ADMIN_OPTION_ON, [roles])).rows
        .filter((r) => r.has_admin_option)
        .map((r) => r.rolname)
    : [];

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
export const usable = (g: GrantorState | undefined): g is GrantorState => g !== undefined && (!g.exists || g.adminCanSet || g.adminCanAdmin);

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

/** The REVOKEs that take `group` from the user: one per kind of grantor its memberships have (the grantor's, anyone else's). */
export const revokedBy = (group: string, grants: readonly MembershipGrant[] | undefined): { grantor: boolean; admin: boolean } => {
  const grantors = (grants ?? []).filter((m) => m.role === group).map((m) => m.grantor);
  return { grantor: grantors.includes(GRANTOR_ROLE), admin: grantors.length === 0 || grantors.some((g) => g !== GRANTOR_ROLE) };
};

export const membershipRevokes = (group: string, dbUser: string, grants: readonly MembershipGrant[] | undefined): SqlStep[] => {
  const by = revokedBy(group, grants);
  return [...(by.grantor ? [offboardDdl.revokeRole(group, dbUser, true)] : []), ...(by.admin ? [offboardDdl.revokeRole(group, dbUser)] : [])];
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
