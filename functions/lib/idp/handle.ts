import type { IAMClient } from '@aws-sdk/client-iam';
import type { RDSClient } from '@aws-sdk/client-rds';
import { parsePrincipalArn, samePrincipal } from '../arn';
import { type ExecutionsDeps, startRequest } from '../api/executions';
import { type Config, resolveTargetConfig } from '../config';
import { isProvisioningError } from '../errors';
import { listGrantPolicies } from '../iam/grants';
import { logger } from '../logger';
import { describeTarget } from '../rds';
import { validateOffboardRequest, validateOnboardRequest } from '../requests';
import { decide, type IdpAction, type IdpMapping } from './decide';
import type { IdentityDirectory, Person } from './directory';
import { executionNameFor, type IdentityChange, parseIdentityEvent } from './events';

/**
 * One EventBridge event in, the executions it means started (each database-user change its own,
 * named from the event id). Malformed events throw (Lambda's failure destination: the dead-letter
 * queue, with the reason); ignored ones log why.
 */
export interface IdpDeps {
  config: Config;
  executions: ExecutionsDeps;
  /** The directory of the event's provider; undefined when none is configured for it. */
  directoryFor: (change: IdentityChange) => IdentityDirectory | undefined;
  iam: IAMClient;
  rds: (region: string) => RDSClient;
}

export interface IdpOutcome {
  eventId?: string;
  change?: IdentityChange['change'];
  ignored?: string;
  executions: Array<{ requestId: string; kind: IdpAction['kind']; target: string; dbUser: string; started: boolean }>;
}

/** IAM deleted a principal: offboard every database user this project granted to it, on configured targets. */
const principalDeletedActions = async (deps: IdpDeps, principal: { type: 'role' | 'user'; name: string; accountId: string }): Promise<IdpAction[]> => {
  const policies = (await listGrantPolicies(deps.iam)).filter((p) => {
    try {
      return p.principalArn !== undefined && samePrincipal(parsePrincipalArn(p.principalArn), { ...principal, partition: parsePrincipalArn(p.principalArn).partition });
    } catch {
      return false;
    }
  });
  if (!policies.length) return [];
  const actions: IdpAction[] = [];
  for (const name of Object.keys(deps.config.targets).sort()) {
    const target = resolveTargetConfig(deps.config, name);
    const db = await describeTarget(deps.rds(target.region), target);
    const prefix = `arn:${db.partition}:rds-db:${db.region}:${db.accountId}:dbuser:${db.resourceId}/`;
    for (const p of policies) {
      for (const g of p.grants.filter((r) => r.startsWith(prefix))) actions.push({ kind: 'offboarding', input: { target: name, dbUser: g.slice(prefix.length), principalArn: p.principalArn } });
    }
  }
  return actions;
};

/**
 * Without a directory (Okta without API access) the event is all there is: an add grants, a removal
 * withdraws, and grants of the person's other groups are not counted (see docs/design.md).
 */
const personFromEvent = (change: Extract<IdentityChange, { user: unknown }>): Person | undefined => {
  if (!('group' in change) || change.user.login === undefined) return undefined;
  return { userId: change.user.id, userName: change.user.login, active: true, groups: change.change === 'membership-added' ? [change.group] : [] };
};

export const handleIdentityEvent = async (deps: IdpDeps, raw: unknown): Promise<IdpOutcome> => {
  const parsed = parseIdentityEvent(raw);
  if (parsed.kind === 'ignored') {
    logger.info('identity event ignored', { reason: parsed.reason });
    return { ignored: parsed.reason, executions: [] };
  }
  const change = parsed.change;
  const base = { eventId: change.eventId, change: change.change };
  const idp: IdpMapping | undefined = deps.config.idp;
  let actions: IdpAction[];
  if (change.change === 'principal-deleted') {
    actions = await principalDeletedActions(deps, change.principal);
  } else if (!idp) {
    return { ...base, ignored: 'no idp mapping is configured', executions: [] };
  } else if (change.change === 'membership-deleted') {
    // Identity Store names only the membership; whose it was cannot be read back (see docs/design.md).
    logger.warn('identity event not handled', { reason: 'DeleteGroupMembership names only the membership', membershipId: change.membershipId });
    return { ...base, ignored: `membership ${change.membershipId}: DeleteGroupMembership does not say whose it was`, executions: [] };
  } else {
    const directory = deps.directoryFor(change);
    const person = directory ? await directory.person(change.user) : personFromEvent(change);
    const decision = decide(idp, change, person);
    if (!directory) logger.info('no directory for this provider: grants are not counted across groups', { source: change.source });
    if (decision.note) logger.info('identity event decided', { note: decision.note });
    actions = decision.actions;
  }

  const reason = `${change.source} ${change.change} (event ${change.eventId})`;
  const requestedBy = `idp:${change.source}`;
  const executions: IdpOutcome['executions'] = [];
  for (const [n, action] of actions.entries()) {
    const requestId = executionNameFor(change, n);
    const fields = { requestId, ...action.input, reason, requestedBy };
    // Validated here as the workflow would: a mapping that yields a bad request fails this event, visibly.
    if (action.kind === 'onboarding') validateOnboardRequest(fields, deps.config);
    else validateOffboardRequest(fields, deps.config);
    const kind = action.kind === 'onboarding' ? 'onboarding' : 'offboarding';
    try {
      const { started } = await startRequest(deps.executions, kind, fields);
      executions.push({ requestId, kind: action.kind, target: action.input.target, dbUser: action.input.dbUser, started });
    } catch (e) {
      // A redelivery after the directory changed asks for something else under the same name: the first one stands.
      if (!isProvisioningError(e, 'RequestConflict')) throw e;
      logger.warn('identity event already handled differently', { requestId });
      executions.push({ requestId, kind: action.kind, target: action.input.target, dbUser: action.input.dbUser, started: false });
    }
  }
  return { ...base, executions };
};
