import * as z from 'zod';
import { IAM_TAG_KEY, parsePrincipalArn, partitionOfRegion, type PrincipalArn, sameRoleOrUser } from './arn';
import { type Config, type ResolvedTargetConfig, resolveTargetConfig } from './config';
import { invalid, ProvisioningError } from './errors';
import { defaultDbUser, type ProtectedNames, validateDatabaseName, validateDbUser, validateGroupRoleName } from './identifiers';

/** Execution names are at most 80 characters; the request id is the execution name (of its first attempt). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

/** Runs of one request at most: the first and the retries (POST /requests/{requestId}/retry). */
export const MAX_ATTEMPTS = 10;

/**
 * Fields every request has, whatever it asks for. The request schemas are built on first use, not at import
 * (cold start, issue 13: zod schema construction at import cost every function that bundles this file).
 */
const requestFields = () => ({
  requestId: z.string().regex(REQUEST_ID_PATTERN, 'must be 1-80 characters of letters, digits, _ and -'),
  target: z.string().min(1, 'is required'),
  reason: z.string().max(1000).optional(),
  requestedBy: z.string().max(2048).optional(),
  /** Set by the API: which call started the run (a replay compares everything else). */
  submissionId: z.string().uuid('must be a UUID').optional(),
  /** Set by the API's retry: which run of the request this is (absent: the first), and who asked for it. */
  attempt: z.number().int().min(2).max(MAX_ATTEMPTS, `at most ${MAX_ATTEMPTS} attempts per request`).optional(),
  retriedBy: z.string().max(2048).optional(),
  /** Set by the API for self-service callers: the database user must belong to this principal. */
  requireOwner: z.string().optional(),
  /** Identity-provider requests: `SOURCE:USER_ID` of the person; only a database user recorded for them is changed. */
  idpUser: z
    .string()
    .regex(/^[a-z-]+:[\w.@+=-]{1,128}$/, 'must be SOURCE:USER_ID')
    .optional(),
});

const buildOnboardInputSchema = () =>
  z
    .object({
      ...requestFields(),
      principalArn: z.string(),
      dbUser: z.string().optional(),
      dbRoles: z.array(z.string()).max(20, 'at most 20 roles per request').default([]),
      databases: z.array(z.string()).max(50, 'at most 50 databases per request').default([]),
      /** A principal many people share: grant through this session tag, never per database user (see README). */
      sessionTagKey: z.string().regex(IAM_TAG_KEY, 'must be an IAM tag key').optional(),
      /** dbRoles are all the group roles the user should have: allowed roles not among them are revoked. */
      exclusiveRoles: z.boolean().optional(),
    })
    .strict();

let onboardInputSchema: ReturnType<typeof buildOnboardInputSchema> | undefined;

export interface OnboardRequest {
  requestId: string;
  principal: PrincipalArn;
  /** The principal's IAM unique id, looked up by the Validate step (never request input). */
  principalId?: string;
  dbUser: string;
  dbRoles: string[];
  databases: string[];
  sessionTagKey?: string;
  /** With sessionTagKey: the literal start of the names the shared role's statement reaches (idp.principal.dbUserPrefix). */
  sessionTagPrefix?: string;
  exclusiveRoles?: boolean;
  idpUser?: string;
  reason?: string;
  requestedBy?: string;
  requireOwner?: PrincipalArn;
}

/** What the Validate step hands to the rest of the workflow. */
export interface ValidatedOnboarding {
  request: OnboardRequest;
  target: ResolvedTargetConfig;
}

/** Turns a zod failure into our ValidationError naming the first offending field. */
export const parseWith = <T>(schema: z.ZodType<T>, input: unknown): T => {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') throw invalid(issue.keys.join(', '), 'is not a known field');
  const field = issue.path.join('.') || '(body)';
  // zod 4 leaves the offending value out of issues, so "missing" is read off the input itself.
  const present =
    issue.path.reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined), input) !== undefined;
  throw invalid(field, issue.code === 'invalid_type' && !present ? 'is required' : issue.message);
};

const unique = <T>(xs: T[]): T[] => [...new Set(xs)];

/** Checks a principal belongs to the target's partition and account (IAM DB auth is same-account). */
export const checkPrincipalForTarget = (principal: PrincipalArn, target: ResolvedTargetConfig): void => {
  const partition = partitionOfRegion(target.region);
  if (principal.partition !== partition) {
    throw invalid('principalArn', `is in partition ${principal.partition}, but target "${target.name}" is in ${partition}`);
  }
  if (principal.accountId !== target.accountId) {
    throw invalid(
      'principalArn',
      `is in account ${principal.accountId}, but target "${target.name}" is in ` +
        `account ${target.accountId}; IAM database authentication works within one account`,
    );
  }
};

export const adminUserOf = (target: ResolvedTargetConfig): string | undefined => (target.admin.method === 'iam' ? target.admin.user : undefined);

/** Names on a target that are never managed, as its configuration knows them (the master user is known from RDS only). */
export const protectedNamesOfTarget = (target: ResolvedTargetConfig): ProtectedNames & { successorRole: string } => ({
  adminUser: adminUserOf(target),
  successorRole: target.successorRole,
  quarantineRole: target.reassignment.quarantineRole,
  extra: [...target.protectedRoles, ...target.allowedDbRoles],
});

/**
 * The shared role of the identity-provider mapping is granted only through its session-tag statement,
 * which reaches the names under its prefix; those names are made for its members only. Returns the
 * prefix for a session-tag grant.
 */
const checkSharedRole = (config: Config, principal: PrincipalArn, dbUser: string, raw: { sessionTagKey?: string; idpUser?: string }): string | undefined => {
  const shared = config.idp?.principal.kind === 'shared' ? config.idp.principal : undefined;
  if (raw.sessionTagKey !== undefined) {
    if (!shared || raw.idpUser === undefined || raw.sessionTagKey !== shared.tagKey || !sameRoleOrUser(principal.arn, shared.roleArn)) {
      throw invalid('sessionTagKey', 'is set only by identity-provider runs, for the shared role of the mapping (idp.principal kind "shared") with its tagKey');
    }
    if (!dbUser.startsWith(shared.dbUserPrefix))
      throw invalid(
        'dbUser',
        `"${dbUser}" must start with "${shared.dbUserPrefix}" (idp.principal.dbUserPrefix): the shared role's statement reaches only those names`,
      );
    return shared.dbUserPrefix;
  }
  if (!shared) return undefined;
  if (dbUser.toLowerCase().startsWith(shared.dbUserPrefix.toLowerCase())) {
    const reason =
      `names starting with "${shared.dbUserPrefix}" are reserved for the people of the shared ` + `role ${shared.roleArn}, whose members can connect as them`;
    throw new ProvisioningError('ProtectedRole', `dbUser: "${dbUser}" cannot be created: ${reason}`, { details: { field: 'dbUser', reason } });
  }
  if (sameRoleOrUser(principal.arn, shared.roleArn)) {
    throw invalid(
      'principalArn',
      `is the shared role of the identity-provider mapping: a statement for one database user on it would ` +
        `let every member connect as that user; its members get access through their groups`,
    );
  }
  return undefined;
};

export const validateOnboardRequest = (input: unknown, config: Config): ValidatedOnboarding => {
  const raw = parseWith((onboardInputSchema ??= buildOnboardInputSchema()), input);
  const target = resolveTargetConfig(config, raw.target);
  const principal = parsePrincipalArn(raw.principalArn);
  checkPrincipalForTarget(principal, target);

  const dbUser = validateDbUser(raw.dbUser ?? defaultDbUser(principal.name), protectedNamesOfTarget(target));

  const dbRoles = unique(raw.dbRoles.map((r, i) => validateGroupRoleName(r, `dbRoles[${i}]`)));
  for (const role of dbRoles) {
    if (!target.allowedDbRoles.includes(role)) {
      throw new ProvisioningError(
        'RoleNotAllowed',
        `dbRoles: "${role}" is not on the allow-list of target "${target.name}" (allowed: ${target.allowedDbRoles.join(', ') || 'none'})`,
        {
          details: { field: 'dbRoles', role },
        },
      );
    }
  }
  const databases = unique(raw.databases.map((d, i) => validateDatabaseName(d, `databases[${i}]`)));
  for (const database of databases) {
    if (!target.allowedDatabases.includes(database)) {
      throw new ProvisioningError(
        'DatabaseNotAllowed',
        `databases: "${database}" is not in allowedDatabases of target "${target.name}" (allowed: ${target.allowedDatabases.join(', ') || 'none'})`,
        {
          details: { field: 'databases', database },
        },
      );
    }
  }
  const sessionTagPrefix = checkSharedRole(config, principal, dbUser, raw);

  return {
    request: {
      requestId: raw.requestId,
      principal,
      dbUser,
      dbRoles,
      databases,
      ...(raw.sessionTagKey !== undefined ? { sessionTagKey: raw.sessionTagKey, sessionTagPrefix } : {}),
      ...(raw.exclusiveRoles ? { exclusiveRoles: true } : {}),
      ...(raw.idpUser !== undefined ? { idpUser: raw.idpUser } : {}),
      ...(raw.reason !== undefined ? { reason: raw.reason } : {}),
      ...(raw.requestedBy !== undefined ? { requestedBy: raw.requestedBy } : {}),
      ...(raw.requireOwner !== undefined ? { requireOwner: parsePrincipalArn(raw.requireOwner, 'requireOwner') } : {}),
    },
    target,
  };
};

/** Without the keys whose value is undefined: the input schemas are strict about what they are given. */
const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/**
 * The input a validated onboarding came from, rebuilt from the request as it travels in an execution: how a later
 * step validates its state again (step-input.ts). The principal is its ARN alone: parsed fields are never trusted.
 */
export const onboardInputOf = (request: Partial<OnboardRequest> | undefined, target: string): Record<string, unknown> => {
  const r = request ?? {};
  return defined({
    requestId: r.requestId,
    target,
    principalArn: r.principal?.arn,
    dbUser: r.dbUser,
    dbRoles: r.dbRoles,
    databases: r.databases,
    sessionTagKey: r.sessionTagKey,
    exclusiveRoles: r.exclusiveRoles,
    idpUser: r.idpUser,
    reason: r.reason,
    requestedBy: r.requestedBy,
    requireOwner: r.requireOwner?.arn,
  });
};

const buildOffboardInputSchema = () =>
  z
    .object({
      ...requestFields(),
      dbUser: z.string(),
      principalArn: z.string().optional(),
    })
    .strict();

let offboardInputSchema: ReturnType<typeof buildOffboardInputSchema> | undefined;

export interface OffboardRequest {
  requestId: string;
  dbUser: string;
  /** When absent, the principals holding grants for the user are found through this project's policies. */
  principal?: PrincipalArn;
  reason?: string;
  requestedBy?: string;
  requireOwner?: PrincipalArn;
  idpUser?: string;
}

export interface ValidatedOffboarding {
  request: OffboardRequest;
  target: ResolvedTargetConfig;
}

/** The input a validated offboarding came from (see onboardInputOf). */
export const offboardInputOf = (request: Partial<OffboardRequest> | undefined, target: string): Record<string, unknown> => {
  const r = request ?? {};
  return defined({
    requestId: r.requestId,
    target,
    dbUser: r.dbUser,
    principalArn: r.principal?.arn,
    reason: r.reason,
    requestedBy: r.requestedBy,
    requireOwner: r.requireOwner?.arn,
    idpUser: r.idpUser,
  });
};

export const validateOffboardRequest = (input: unknown, config: Config): ValidatedOffboarding => {
  const raw = parseWith((offboardInputSchema ??= buildOffboardInputSchema()), input);
  const target = resolveTargetConfig(config, raw.target);
  const principal = raw.principalArn === undefined ? undefined : parsePrincipalArn(raw.principalArn);
  if (principal) checkPrincipalForTarget(principal, target);
  const dbUser = validateDbUser(raw.dbUser, protectedNamesOfTarget(target));
  return {
    request: {
      requestId: raw.requestId,
      dbUser,
      ...(principal ? { principal } : {}),
      ...(raw.reason !== undefined ? { reason: raw.reason } : {}),
      ...(raw.requestedBy !== undefined ? { requestedBy: raw.requestedBy } : {}),
      ...(raw.requireOwner !== undefined ? { requireOwner: parsePrincipalArn(raw.requireOwner, 'requireOwner') } : {}),
      ...(raw.idpUser !== undefined ? { idpUser: raw.idpUser } : {}),
    },
    target,
  };
};
