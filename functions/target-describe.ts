import { rdsClient } from './lib/clients';
import type { ResolvedTargetConfig } from './lib/config';
import { stepHandler } from './lib/logger';
import { describeTarget } from './lib/rds';

/** Step 2 (and the IAM-auth poll): what RDS says about the target now. */
export const handler = stepHandler('ResolveTarget', async (input: { target: ResolvedTargetConfig }) => describeTarget(rdsClient(input.target.region), input.target));
