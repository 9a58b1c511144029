import { rdsClient } from './lib/clients';
import type { ResolvedTargetConfig } from './lib/config';
import { stepHandler } from './lib/logger';
import { enableIamAuth } from './lib/rds';

/** Step 3: turn IAM database authentication on; the state machine then waits and polls. */
export const handler = stepHandler('EnableIamAuth', async (input: { target: ResolvedTargetConfig }) => ({
  ...(await enableIamAuth(rdsClient(input.target.region), input.target)),
  polls: 0,
}));
