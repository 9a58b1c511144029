import type { RequestKind, RequestStatus } from '../core/executions';

/**
 * What a run that succeeded did, said at the top of the request (GET /requests/{requestId}, a replay's answer):
 * SUCCEEDED alone does not tell a revocation that dropped a user from one that found none to drop, and a client
 * should not have to know where in the output each workflow says it.
 */
export type RequestOutcome = 'created' | 'updated' | 'already present' | 'dropped' | 'deactivated-not-dropped' | 'not found';

export interface OutcomeView {
  outcome?: RequestOutcome;
  /** Set when the outcome asks something of the reader (nothing to drop, or dependencies left). */
  message?: string;
}

const OFFBOARDING: readonly RequestOutcome[] = ['dropped', 'deactivated-not-dropped', 'not found'];
const ONBOARDING: readonly RequestOutcome[] = ['created', 'updated', 'already present'];

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** How many grants a revocation took away (its output's policyChanges, "removed"). */
const removedGrants = (output: Record<string, unknown>): number =>
  Array.isArray(output.policyChanges) ? output.policyChanges.filter((c) => (c as { outcome?: unknown } | null)?.outcome === 'removed').length : 0;

/** The outcome of a succeeded run from its output (the state machines' Done states); nothing for other runs. */
export const outcomeOf = (kind: RequestKind, status: RequestStatus, output: unknown): OutcomeView => {
  if (status !== 'SUCCEEDED' || output === null || typeof output !== 'object') return {};
  const o = output as Record<string, unknown>;
  const dbUser = str(o.dbUser) ?? '?';
  const target = str(o.target) ?? '?';
  if (kind === 'onboarding') {
    const outcome = ONBOARDING.find((x) => x === o.dbUserOutcome);
    return outcome ? { outcome } : {};
  }
  const outcome = OFFBOARDING.find((x) => x === o.status);
  if (outcome === 'not found') {
    const removed = removedGrants(o);
    return {
      outcome,
      message:
        `database user "${dbUser}" does not exist on target "${target}" (never created there, ` +
        `or already offboarded): nothing was changed in ` +
        `PostgreSQL; ${removed ? `${removed} IAM connect grant(s) left for it were removed` : 'no IAM connect grant for it was found'}. ` +
        `Check the dbUser and target of the revocation`,
    };
  }
  if (outcome === 'deactivated-not-dropped') {
    return {
      outcome,
      message:
        `database user "${dbUser}" on target "${target}" can no longer log in and its grants are gone, ` +
        `but it was not dropped: privileges granted by another role remain ` +
        `(output.retire.remainingDependencies, per database). Once a DBA has revoked them, ` +
        `send the revocation again under a new requestId`,
    };
  }
  return outcome ? { outcome } : {};
};
