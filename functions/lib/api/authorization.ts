import type { PrincipalArn } from '../arn';
import type { Config } from '../config';
import { ProvisioningError } from '../errors';
import { defaultDbUser } from '../identifiers';
import { type Caller, isOwnPrincipal, principalArnOf } from './caller';

/**
 * Who may ask for what (configuration `api`): administrators, by ARN pattern, for anyone; other
 * callers, when self-service is on, only for their own principal and its own database user (the
 * principal's name). The database user is pinned too: otherwise a caller could attach its own
 * principal to somebody else's database user.
 */
export type ApiPolicy = Config['api'];

const globToRegExp = (pattern: string): RegExp => new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

/** Patterns match the caller ARN as SigV4 reports it, or the caller's IAM principal ARN (without path). */
export const isAdmin = (caller: Caller, policy: ApiPolicy): boolean => {
  const candidates = [caller.arn, principalArnOf(caller)].filter((a): a is string => a !== undefined);
  return policy.admins.some((p) => candidates.some((a) => globToRegExp(p).test(a)));
};

const refuse = (message: string, reason: string): ProvisioningError => new ProvisioningError('NotAuthorized', message, { details: { reason } });

export interface AccessQuestion {
  action: 'request access' | 'revoke access';
  /** Absent for a revocation that lets the workflow find every holder. */
  principal?: PrincipalArn;
  dbUser: string;
}

/** Returns when `caller` may do this, or throws NotAuthorized (403) saying why not. */
export const authorize = (caller: Caller, question: AccessQuestion, policy: ApiPolicy): void => {
  if (isAdmin(caller, policy)) return;
  const { action, principal, dbUser } = question;
  if (!policy.selfService) throw refuse(`${caller.arn} may not ${action}: only administrators (api.admins) may, self-service is off`, 'not an administrator');
  const own = principalArnOf(caller);
  if (!caller.principal || !own) throw refuse(`${caller.arn} may not ${action}: it is not an IAM role or user session, and not an administrator`, 'no own principal');
  if (principal && !isOwnPrincipal(caller, principal)) {
    throw refuse(`${caller.arn} may ${action} only for its own principal ${own}, not for ${principal.arn}`, 'not own principal');
  }
  const ownUser = defaultDbUser(caller.principal.name);
  if (dbUser !== ownUser) throw refuse(`${caller.arn} may ${action} only for its own database user "${ownUser}", not for "${dbUser}"`, 'not own database user');
};
