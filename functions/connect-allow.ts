import { grantDeps } from './lib/iam/deps';
import { addConnectGrant } from './lib/iam/grants';
import { stepHandler } from './lib/logger';
import { verifyOnboardState } from './lib/step-input';
import { connectResourceOf, type OnboardState } from './lib/steps';

/**
 * Let the principal connect as exactly this database user on exactly this resource. A principal many people
 * share gets the session-tag statement instead: each member connects only as the database user its own tag names.
 * The resource id, Region and account come from RDS, never from the input.
 */
export const handler = stepHandler('AllowConnect', async (input: OnboardState) => {
  const state = await verifyOnboardState(input);
  return addConnectGrant(grantDeps(), state.request.principal, connectResourceOf(state), state.request.requestId);
});
