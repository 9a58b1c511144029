import { z } from 'zod';
import { IAM_TAG_KEY, parsePrincipalArn, partitionOfRegion, type PrincipalArn } from './arn';
import { type Config, reassignmentOf, type ResolvedTargetConfig, resolveTargetConfig } from './config';
import { invalid, ProvisioningError } from './errors';
import { defaultDbUser, protectedReason, validateDatabaseName, validateDbUser, validateGroupRoleName } from './identifiers';

/** Execution names are at most 80 characters; the request id is the execution name. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

/** Fields every request has, whatever it asks for. */
const requestFields = {
  requestId: z.string().regex(REQUEST_ID_PATTERN, 'must be 1-80 characters of letters, digits, _ and -'),
  target: z.string().min(1, 'is required'),
  reason: z.string().max(1000).optional(),
  requestedBy: z.string().max(2048).optional(),
  /** Set by the API for self-service callers: the database user must belong to this principal. */
  requireOwner: z.string().optional(),
  /** Identity-provider requests: `SOURCE:USER_ID` of the person; only a database user recorded for them is changed. */
  idpUser: z.string().regex(/^[a-z-]+:[\w.@+=-]{1,128}$/, 'must be SOURCE:USER_ID').optional(),
};

const onboardInputSchema = z
  .object({
    ...requestFields,
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

export interface OnboardRequest {
  requestId: string;
  principal: PrincipalArn;
  dbUser: string;
  dbRoles: string[];
  databases: string[];
  sessionTagKey?: string;
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
  const present = issue.path.reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined), input) !== undefined;
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
    throw invalid('principalArn', `is in account ${principal.accountId}, but target "${target.name}" is in account ${target.accountId}; IAM database authentication works within one account`);
  }
};

export const adminUserOf = (target: ResolvedTargetConfig): string | undefined =>
  target.admin.method === 'iam' ? target.admin.user : undefined;

export const validateOnboardRequest = (input: unknown, config: Config): ValidatedOnboarding => {
  const raw = parseWith(onboardInputSchema, input);
  const target = resolveTargetConfig(config, raw.target);
  const principal = parsePrincipalArn(raw.principalArn);
  checkPrincipalForTarget(principal, target);

  const dbUser = validateDbUser(raw.dbUser ?? defaultDbUser(principal.name), {
    adminUser: adminUserOf(target),
    successorRole: target.successorRole,
    quarantineRole: reassignmentOf(target).quarantineRole,
    extra: [...target.protectedRoles, ...target.allowedDbRoles],
  });

  const dbRoles = unique(raw.dbRoles.map((r, i) => validateGroupRoleName(r, `dbRoles[${i}]`)));
  for (const role of dbRoles) {
    if (!target.allowedDbRoles.includes(role)) {
      throw new ProvisioningError('RoleNotAllowed', `dbRoles: "${role}" is not on the allow-list of target "${target.name}" (allowed: ${target.allowedDbRoles.join(', ') || 'none'})`, {
        details: { field: 'dbRoles', role },
      });
    }
    // A misconfigured allow-list must not hand out rds_superuser or the like.
    const reason = role.toLowerCase().startsWith('pg_') ? undefined : protectedReason(role, { successorRole: target.successorRole, quarantineRole: reassignmentOf(target).quarantineRole });
    if (reason) throw new ProvisioningError('ConfigurationError', `allowed role "${role}" of target "${target.name}" cannot be granted: ${reason}`);
  }
  const databases = unique(raw.databases.map((d, i) => validateDatabaseName(d, `databases[${i}]`)));

  return {
    request: {
      requestId: raw.requestId,
      principal,
      dbUser,
      dbRoles,
      databases,
      ...(raw.sessionTagKey !== undefined ? { sessionTagKey: raw.sessionTagKey } : {}),
      ...(raw.exclusiveRoles ? { exclusiveRoles: true } : {}),
      ...(raw.idpUser !== undefined ? { idpUser: raw.idpUser } : {}),
      ...(raw.reason !== undefined ? { reason: raw.reason } : {}),
      ...(raw.requestedBy !== undefined ? { requestedBy: raw.requestedBy } : {}),
      ...(raw.requireOwner !== undefined ? { requireOwner: parsePrincipalArn(raw.requireOwner, 'requireOwner') } : {}),
    },
    target,
  };
};

const offboardInputSchema = z
  .object({
    ...requestFields,
    dbUser: z.string(),
    principalArn: z.string().optional(),
  })
  .strict();

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

export const validateOffboardRequest = (input: unknown, config: Config): ValidatedOffboarding => {
  const raw = parseWith(offboardInputSchema, input);
  const target = resolveTargetConfig(config, raw.target);
  const principal = raw.principalArn === undefined ? undefined : parsePrincipalArn(raw.principalArn);
  if (principal) checkPrincipalForTarget(principal, target);
  const dbUser = validateDbUser(raw.dbUser, {
    adminUser: adminUserOf(target),
    successorRole: target.successorRole,
    quarantineRole: reassignmentOf(target).quarantineRole,
    extra: [...target.protectedRoles, ...target.allowedDbRoles],
  });
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
