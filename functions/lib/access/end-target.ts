import { rdsClient } from '../core/clients';
import { type ResolvedTargetConfig, resolveTargetConfig } from '../core/config';
import { describeTarget, type ResolvedTarget } from '../rds/target';
import { ProvisioningError } from '../core/errors';
import { type GrantEndPlan, planGrantEnd } from '../workflows/grant-end-plan';
import type { AccessRequest } from './lifecycle';
import { otherGrantsOf, type RecordDeps, readRequest } from './records';

/**
 * The end step's subject, from the store and RDS only (its input names just the request): the request must be ENDING,
 * its plan is made again, and the target is described now. An end acts on the database as it is: a target replaced
 * since the grant still has the user taken away; IAM's statement is the one the grant named (EndState.resourceId).
 */
export const endSubject = async (deps: RecordDeps, requestId: string): Promise<{ state: EndState; target: ResolvedTargetConfig; db: ResolvedTarget }> => {
  const state = await endStateOf(deps, await readRequest(deps.store, requestId));
  const target = resolveTargetConfig(deps.config, state.target);
  return { state, target, db: await describeTarget(rdsClient(target.region), target) };
};

/** What the end run carries from step to step: the request it ends and the plan of what to take. */
export interface EndState {
  requestId: string;
  target: string;
  dbUser: string;
  principalArn: string;
  /** The resource id the grant's statement names (the target may have been replaced since). */
  resourceId: string;
  plan: GrantEndPlan;
}

/**
 * What the end of an ENDING request takes, planned against the user's other live grants as they are now. Every
 * step of the end plans it again from the store rather than take it from its input: one planner, one truth.
 */
export const endStateOf = async (deps: Pick<RecordDeps, 'store' | 'now'>, request: AccessRequest): Promise<EndState> => {
  if (request.state !== 'ENDING')
    throw new ProvisioningError('RequestStateConflict', `access request "${request.requestId}" is ${request.state}, not ENDING: nothing of it is ended now`, {
      details: { requestId: request.requestId, state: request.state },
    });
  const now = deps.now();
  const others = await otherGrantsOf(deps.store, request, now);
  const plan = planGrantEnd({ ...grantOf(request), ...(request.heldBefore ? { heldBefore: request.heldBefore } : {}) }, others.map(grantOf), now);
  return {
    requestId: request.requestId,
    target: request.plan.target,
    dbUser: request.plan.dbUser,
    principalArn: request.plan.principalArn,
    resourceId: request.plan.resourceId,
    plan,
  };
};

const grantOf = (r: AccessRequest) => ({
  requestId: r.requestId,
  principalArn: r.plan.principalArn,
  dbRoles: r.plan.dbRoles,
  databases: r.plan.databases,
  // An activating grant has no expiresAt yet: it counts as live (it is about to be access).
  ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
});
