import { withStepLease } from './lib/db-user-lease';
import { grantDeps } from './lib/iam/deps';
import { addConnectGrant } from './lib/iam/grants';
import { assertPrincipalId } from './lib/iam/principal-id';
import { stepHandler } from './lib/logger';
import { METRIC } from './lib/metrics';
import { verifyOnboardState } from './lib/step-input';
import { connectResourceOf, type OnboardState } from './lib/steps';

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
  return withStepLease(state, 'onboarding', true, async () => {
    // The unique id the database user was recorded with must be the principal's now: a forged or stale id is refused.
    if (request.principalId !== undefined) await assertPrincipalId(deps.iam, request.principal, request.principalId);
    return addConnectGrant(deps, request.principal, connectResourceOf(state), request.requestId, request.principalId);
  });
  },
  // How close principals come to iam.maxGrantPoliciesPerPrincipal: the Maximum statistic is the fullest one.
  (out) => [{ name: METRIC.grantsPerPrincipal, unit: 'Count', value: out.grantsHeld, metadata: { principalArn: out.principalArn } }],
);
