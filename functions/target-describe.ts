import { rdsClient } from './lib/core/clients';
import { stepHandler } from './lib/core/logger';
import { describeTarget } from './lib/rds/target';
import { configuredTarget } from './lib/workflows/step-input';

/** ResolveTarget (and the IAM-auth poll): what RDS says now about the configured target the input names. */
export const handler = stepHandler('ResolveTarget', async (input: { target: { name: string } }) => {
  const target = configuredTarget(input.target);
  return describeTarget(rdsClient(target.region), target);
});
