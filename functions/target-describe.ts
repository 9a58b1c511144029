import { rdsClient } from './lib/clients';
import { stepHandler } from './lib/logger';
import { describeTarget } from './lib/rds';
import { configuredTarget } from './lib/step-input';

/** ResolveTarget (and the IAM-auth poll): what RDS says now about the configured target the input names. */
export const handler = stepHandler('ResolveTarget', async (input: { target: { name: string } }) => {
  const target = configuredTarget(input.target);
  return describeTarget(rdsClient(target.region), target);
});
