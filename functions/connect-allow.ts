import { withStepLease } from './lib/workflows/db-user-lease';
import { loadConfig } from './lib/core/config';
import { ConfigurationError } from './lib/core/errors';
import { grantDeps } from './lib/iam/deps';
import { addConnectGrant } from './lib/iam/grants';
import { type Pace, paceOf, pacedIam } from './lib/iam/pacing';
import { assertPrincipalId } from './lib/iam/principal-id';
import { stepHandler } from './lib/core/logger';
import { METRIC } from './lib/core/metrics';
import { verifyOnboardState } from './lib/workflows/step-input';
import { taskTokenConsumer } from './lib/core/task-token';
import { connectResourceOf, type OnboardState } from './lib/workflows/steps';

// One pace per container, kept across warm invocations (functions/lib/iam/pacing.ts).
let pace: { key: string; pace: Pace } | undefined;

/**
 * Each of the iam.grantConcurrency containers takes its share of iam.writesPerSecond. Local mode and the tests run
 * every slot in one process, which therefore holds the whole rate: they set IAM_PACE_SHARES=1.
 */
const paceFor = (writesPerSecond: number, grantConcurrency: number): Pace => {
  const raw = process.env.IAM_PACE_SHARES;
  const shares = raw === undefined ? grantConcurrency : Number(raw);
  if (!Number.isInteger(shares) || shares < 1)
    throw new ConfigurationError('IAM_PACE_SHARES', `must be a whole number of at least 1 (local mode sets 1), not "${raw}"`, []);
  const key = `${writesPerSecond}/${shares}`;
  if (pace?.key !== key) pace = { key, pace: paceOf(writesPerSecond, shares) };
  return pace.pace;
};

/**
 * Let the principal connect as exactly this database user on exactly this resource. A principal many people
 * share gets the session-tag statement instead: each member connects only as the database user its own tag names.
 * The resource id, Region and account come from RDS, never from the input.
 */
export const handler = stepHandler(
  'AllowConnect',
  async (input: OnboardState) => {
    const state = await verifyOnboardState(input);
    const { request } = state;
    const deps = grantDeps();
    const { writesPerSecond, grantConcurrency } = loadConfig().iam;
    const iam = pacedIam(deps.iam, paceFor(writesPerSecond, grantConcurrency));
    return withStepLease(
      state,
      'onboarding',
      true,
      async () => {
        // The unique id the database user was recorded with must be the principal's now: a forged or stale id is refused.
        if (request.principalId !== undefined) await assertPrincipalId(iam, request.principal, request.principalId);
        return addConnectGrant({ ...deps, iam }, request.principal, connectResourceOf(state), request.requestId, request.principalId);
      },
      undefined,
      // Refused (LeasePreempted) when an offboarding took the user over while this grant waited in the queue.
      'grant',
    );
  },
  // How close principals come to iam.maxGrantPoliciesPerPrincipal: the Maximum statistic is the fullest one.
  (out) => [{ name: METRIC.grantsPerPrincipal, unit: 'Count', value: out.grantsHeld, metadata: { principalArn: out.principalArn } }],
);

/**
 * What is deployed: the same step, run by ConnectAllowQueue's event source mapping, at most iam.grantConcurrency at
 * once (functions/lib/core/task-token.ts), so a burst of onboardings waits in the queue for IAM instead of being throttled.
 */
export const queueHandler = taskTokenConsumer(handler);
