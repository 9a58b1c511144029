import type { Config } from '../core/config';
import { ProvisioningError } from '../core/errors';
import { logger } from '../core/logger';
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

/**
 * The other grants of the same database user that may explain what an onboarding found there: those not ended (being
 * made, active, ending, or whose end or activation failed), and those whose end kept something for this one (their
 * proof's keptFor names it: it ended while this one was being made). What they may have given is not the user's own.
 */
export const grantsThatMayHaveGivenAccess = async (store: AccessRequestStore, r: AccessRequest): Promise<AccessRequest[]> =>
  (await store.list(['ACTIVATING', 'ACTIVE', 'ENDING', 'END_FAILED', 'ACTIVATION_FAILED', 'ENDED'])).filter(
    (g) =>
      g.requestId !== r.requestId &&
      g.plan.target === r.plan.target &&
      g.plan.dbUser === r.plan.dbUser &&
      (g.state !== 'ENDED' || keptFor(g).includes(r.requestId)),
  );

const keptFor = (g: AccessRequest): string[] => {
  const kept = (g.proof as { database?: { keptFor?: unknown } } | undefined)?.database?.keptFor;
  return Array.isArray(kept) ? kept.filter((k): k is string => typeof k === 'string') : [];
};

/** A notification after the write that decided it: its failure is logged, never the step's (the write stands). */
export const bestEffort = async (publish: () => Promise<void>): Promise<void> => {
  try {
    await publish();
  } catch (e) {
    logger.error('lifecycle event not published', { error: (e as Error).name, errorMessage: (e as Error).message });
  }
};
