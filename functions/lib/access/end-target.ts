import { rdsClient } from '../core/clients';
import { type ResolvedTargetConfig, resolveTargetConfig } from '../core/config';
import { describeTarget, type ResolvedTarget } from '../rds/target';
import { type LifecycleDeps, readRequest } from './activation';
import { type EndState, endStateOf } from './end';

/**
 * The end step's subject, from the store and RDS only (its input names just the request): the request must be ENDING,
 * its plan is made again, and the target is described now. An end acts on the database as it is: a target replaced
 * since the grant still has the user taken away; IAM's statement is the one the grant named (EndState.resourceId).
 */
export const endSubject = async (
  deps: Pick<LifecycleDeps, 'store' | 'now' | 'config'>,
  requestId: string,
): Promise<{ state: EndState; target: ResolvedTargetConfig; db: ResolvedTarget }> => {
  const state = await endStateOf(deps, await readRequest(deps.store, requestId));
  const target = resolveTargetConfig(deps.config, state.target);
  return { state, target, db: await describeTarget(rdsClient(target.region), target) };
};
