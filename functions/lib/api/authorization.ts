import { matchesArnPatterns, type PrincipalArn, principalArnOrUndefined, sameRoleOrUser } from '../core/arn';
import type { Config } from '../core/config';
import { ProvisioningError } from '../core/errors';
import { defaultDbUser } from '../core/identifiers';
import { type Caller, callerOrUndefined, isOwnPrincipal, principalArnOf } from './caller';

/**
 * Who may ask for what (configuration `api`): administrators, by ARN pattern, for anyone; other
 * callers, when self-service is on, only for their own principal and its own database user (the
 * principal's name). The database user is pinned too: otherwise a caller could attach its own
 * principal to somebody else's database user.
 */
export type ApiPolicy = Config['api'] & {
  /** Roles many people share (the identity-provider mapping's shared role): nobody's own principal. */
  sharedRoles: readonly string[];
};

export const apiPolicyOf = (config: Config): ApiPolicy => ({
  ...config.api,
  sharedRoles: config.idp?.principal.kind === 'shared' ? [config.idp.principal.roleArn] : [],
});

/** IAM Identity Center permission-set roles (path /aws-reserved/sso.amazonaws.com/, which STS does not report): every member of the set shares one. */
const PERMISSION_SET_ROLE = /^AWSReservedSSO_/;

/** Whether the caller's role is shared by many people: then it proves who the person is no more than a group would. */
const isSharedPrincipal = (caller: Caller, policy: ApiPolicy): boolean =>
  caller.principal?.type === 'role' &&
  (PERMISSION_SET_ROLE.test(caller.principal.name) || policy.sharedRoles.some((r) => sameRoleOrUser(r, principalArnOf(caller))));

/** Patterns match the caller ARN as SigV4 reports it, or the caller's IAM principal ARN (without path). */
const matchesAny = (caller: Caller, patterns: string[]): boolean => matchesArnPatterns([caller.arn, principalArnOf(caller)], patterns);

export const isAdmin = (caller: Caller, policy: ApiPolicy): boolean => matchesAny(caller, policy.admins);

const refuse = (message: string, reason: string): ProvisioningError => new ProvisioningError('NotAuthorized', message, { details: { reason } });

export interface AccessQuestion {
  action: 'request access' | 'revoke access';
  /** Absent for a revocation that lets the workflow find every holder. */
  principal?: PrincipalArn;
  /** Absent when the request lacks it (validation then refuses it). */
  dbUser?: string;
}

export type Authorization = { admin: true } | { admin: false; owner: string };

/**
 * Returns how `caller` may do this, or throws NotAuthorized (403) saying why not. A self-service
 * caller gets `owner`, its own principal: the workflow then changes only a database user created
 * for that principal (the name check here cannot know whose an existing user is).
 */
export const authorize = (caller: Caller, question: AccessQuestion, policy: ApiPolicy): Authorization => {
  if (isAdmin(caller, policy)) return { admin: true };
  const { action, principal, dbUser } = question;
  if (!policy.selfService) throw refuse(`${caller.arn} may not ${action}: only administrators (api.admins) may, self-service is off`, 'not an administrator');
  const own = principalArnOf(caller);
  if (!caller.principal || !own)
    throw refuse(`${caller.arn} may not ${action}: it is not an IAM role or user session, and not an administrator`, 'no own principal');
  if (isSharedPrincipal(caller, policy)) {
    throw refuse(
      `${caller.arn} may not ${action}: its role ${own} is shared by many people (an IAM Identity Center ` +
        `permission set, or the identity-provider mapping's shared role), so it is nobody's own principal; ` +
        `access through it comes from the identity-provider groups (idp), or ask an administrator`,
      'shared principal',
    );
  }
  if (principal && !isOwnPrincipal(caller, principal)) {
    throw refuse(`${caller.arn} may ${action} only for its own principal ${own}, not for ${principal.arn}`, 'not own principal');
  }
  const ownUser = defaultDbUser(caller.principal.name);
  if (dbUser !== undefined && dbUser !== ownUser)
    throw refuse(`${caller.arn} may ${action} only for its own database user "${ownUser}", not for "${dbUser}"`, 'not own database user');
  return { admin: false, owner: own };
};

/** Administrators read every request; others the requests they sent or that concern their own principal (a shared role is nobody's). */
const mayRead = (caller: Caller, input: Record<string, unknown>, policy: ApiPolicy): boolean => {
  if (isAdmin(caller, policy)) return true;
  if (!caller.principal || isSharedPrincipal(caller, policy)) return false;
  // requestedBy is a caller ARN (or idp:SOURCE); its principal, like principalArn, is compared by account, type and name.
  const sender = callerOrUndefined(input.requestedBy);
  const sentByCaller = sender?.principal !== undefined && sameRoleOrUser(principalArnOf(sender), principalArnOf(caller));
  const principal = principalArnOrUndefined(input.principalArn);
  return sentByCaller || (principal !== undefined && isOwnPrincipal(caller, principal));
};

/**
 * The request, when the caller may read it. Otherwise, and when there is none, the same 404 with the
 * same message: a caller must not learn that an id it may not read is taken (by GET, or by a POST
 * that replays it).
 */
export const readableRequest = <T extends { input: Record<string, unknown> }>(
  caller: Caller,
  requestId: string,
  request: T | undefined,
  policy: ApiPolicy,
): T => {
  if (request && mayRead(caller, request.input, policy)) return request;
  const scope = isAdmin(caller, policy)
    ? ''
    : ' that you may read (administrators read every request, other callers those they sent or that concern their own principal)';
  throw new ProvisioningError('RequestNotFound', `no request "${requestId}"${scope}`, { details: { requestId } });
};

export const isAuditor = (caller: Caller, policy: ApiPolicy): boolean => matchesAny(caller, policy.auditors);

/** The audit trail and the access review: auditors (api.auditors) and administrators. */
export const authorizeAudit = (caller: Caller, policy: ApiPolicy): void => {
  if (isAdmin(caller, policy) || isAuditor(caller, policy)) return;
  throw refuse(`${caller.arn} may not read the audit trail or the access review: only auditors (api.auditors) and administrators may`, 'not an auditor');
};
