import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { conditionalUpdate } from '../core/conditional-update';
import { ProvisioningError } from '../core/errors';

/**
 * Identity Store notifications come one per change: a bulk import of 10,000 people is some 20,000 "User Created" and
 * "Group Membership Created" events, each asking for a reconcile of the whole mapping. They are coalesced: a
 * notification needs no reconcile of its own when one that started reading the directory after it (plus
 * CONSISTENCY_MS, the store's read-after-write delay) has completed or is running. One reconcile runs at a time per
 * source (a lease in the lock table); a notification that the running one may have missed (it happened just before
 * or after that one started) is deferred to it (`pendingSeenAt`): the runner reads the directory again before it
 * completes. Only in the race of a runner releasing meanwhile does it fail with ReconcileRunning (Lambda retries).
 * Nothing is lost: a skipped notification relies on a reconcile that either completes or, failing, is retried by
 * Lambda in turn (its event keeps the lease: re-entrant) and then dead-lettered with an alarm.
 */
export interface CoalesceDeps {
  ddb: DynamoDBClient;
  table: string;
  now?: () => number;
}

/** How much later than a change a directory read must start to be sure to see it. */
export const CONSISTENCY_MS = 5_000;
/** idpEvents' timeout (900 s) and a margin: a lease older than this belongs to an invocation Lambda has ended. */
export const RECONCILE_LEASE_MS = 960_000;

const keyOf = (source: string): string => `idp-reconcile:${source}`;

export type Claim = { run: true; startedAt: number } | { run: false; coveredBy: string };

const NAMES: Record<string, string> = {
  '#runner': 'runner',
  '#started': 'runnerStartedAt',
  '#until': 'leaseUntil',
  '#completed': 'completedStartedAt',
  '#pending': 'pendingSeenAt',
};

const update = (deps: CoalesceDeps, source: string, expression: string, condition: string, values: Record<string, AttributeValue>) =>
  conditionalUpdate(deps.ddb, deps.table, keyOf(source), { update: expression, condition, names: NAMES, values }, `coordinate the reconcile of ${source}`);

/**
 * Whether the notification `eventId` (of change time `changedAt`, ms) runs a reconcile: yes, and the lease is this
 * event's; no, because a reconcile that saw the change has completed or runs; or ReconcileRunning (retried) while one
 * runs that may not have seen it.
 */
export const claimReconcile = async (deps: CoalesceDeps, source: string, eventId: string, changedAt: number): Promise<Claim> => {
  const now = (deps.now ?? Date.now)();
  const seen = String(changedAt + CONSISTENCY_MS);
  const claimed = await update(
    deps,
    source,
    'SET #runner = :me, #started = :now, #until = :until',
    '(attribute_not_exists(#runner) OR #until < :now OR #runner = :me) AND (attribute_not_exists(#completed) OR #completed < :seen)',
    { ':me': { S: eventId }, ':now': { N: String(now) }, ':until': { N: String(now + RECONCILE_LEASE_MS) }, ':seen': { N: seen } },
  );
  if (!claimed.failed) return { run: true, startedAt: now };
  const item = claimed.item;
  const completed = Number(item?.completedStartedAt?.N ?? Number.NaN);
  if (completed >= Number(seen)) return { run: false, coveredBy: 'a reconcile that completed after this change' };
  const runnerStarted = Number(item?.runnerStartedAt?.N ?? Number.NaN);
  if (item?.runner?.S !== undefined && runnerStarted >= Number(seen)) return { run: false, coveredBy: `the running reconcile of event ${item.runner.S}` };
  // The running reconcile may have read the directory before this change: it reads again before it completes.
  const deferred = await update(
    deps,
    source,
    'SET #pending = :seen',
    'attribute_exists(#runner) AND #until > :now AND (attribute_not_exists(#pending) OR #pending < :seen)',
    { ':now': { N: String(now) }, ':seen': { N: seen } },
  );
  const pending = Number(deferred.item?.pendingSeenAt?.N ?? Number.NaN);
  if (!deferred.failed || (deferred.item?.runner?.S !== undefined && pending >= Number(seen)))
    return { run: false, coveredBy: `the running reconcile of event ${item?.runner?.S}, which reads the directory again before it completes` };
  throw new ProvisioningError(
    'ReconcileRunning',
    `a reconcile of ${source} that may not see this change is running (event ${item?.runner?.S}); this notification is retried once it has ended`,
    {
      details: { runner: item?.runner?.S },
    },
  );
};

/**
 * Records the completed reconcile (the start of its directory read) and lets the next one run: true. False when a
 * notification deferred to it came after that read started: the caller reconciles again (claiming anew) first.
 */
export const completeReconcile = async (deps: CoalesceDeps, source: string, eventId: string, startedAt: number): Promise<boolean> => {
  const done = await update(
    deps,
    source,
    'SET #completed = :started REMOVE #runner, #started, #until, #pending',
    '#runner = :me AND (attribute_not_exists(#pending) OR #pending < :after)',
    { ':me': { S: eventId }, ':started': { N: String(startedAt) }, ':after': { N: String(startedAt + 1) } },
  );
  // Failed and still ours: something is pending. Failed and not ours: the lease expired and another runner covers it.
  return !done.failed || done.item?.runner?.S !== eventId;
};
