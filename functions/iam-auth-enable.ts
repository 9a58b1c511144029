import { rdsClient } from './lib/core/clients';
import { stepHandler } from './lib/core/logger';
import { enableIamAuth } from './lib/rds/target';
import { configuredTarget } from './lib/workflows/step-input';

/** Turn IAM database authentication on, as the target's configuration allows; the state machine then waits and polls. */
export const handler = stepHandler('EnableIamAuth', async (input: { target: { name: string } }) => {
  const target = configuredTarget(input.target);
  return { ...(await enableIamAuth(rdsClient(target.region), target)), polls: 0 };
});
