import type { Config } from '../core/config';
import { ProvisioningError } from '../core/errors';
import { type AccessRequest, type Action, decide, isLive } from './lifecycle';
import { policyNamed } from './policies';
import type { AccessRequestStore } from './store';

/** What reading and writing a request's record needs: the store, the configuration (its policy) and the clock. */
export interface RecordDeps {
  store: AccessRequestStore;
  config: Config;
  now: () => Date;
}

export const readRequest = async (store: AccessRequestStore, requestId: string): Promise<AccessRequest> => {
  const r = await store.get(requestId);
  if (!r) throw new ProvisioningError('RequestNotFound', `access request "${requestId}" does not exist`, { details: { requestId } });
  return r;
};

/**
 * Writes the transition `action` decides, re-reading and deciding again when another writer got there first, so of
 * concurrent steps exactly one write lands per version and every decision is made on the record as it is.
 */
export const transition = async (deps: RecordDeps, requestId: string, action: (r: AccessRequest) => Action | undefined) => {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await readRequest(deps.store, requestId);
    const a = action(r);
    if (!a) return { request: r, written: false };
    const t = decide(r, a, { now: deps.now(), policy: policyNamed(deps.config, r.policy) });
    const outcome = await deps.store.write(t);
    if (outcome.won) return { request: t.next, written: true };
  }
  throw new ProvisioningError('TransientAwsError', `access request "${requestId}" kept changing while it was written; retrying`);
};

/** The other grants of the same database user that are, or may become, access (what an end must not take). */
export const otherGrantsOf = async (store: AccessRequestStore, r: AccessRequest, now: Date): Promise<AccessRequest[]> =>
  (await store.list(['ACTIVATING', 'ACTIVE'])).filter(
    (g) => g.requestId !== r.requestId && g.plan.target === r.plan.target && g.plan.dbUser === r.plan.dbUser && isLive(g, now),
  );
