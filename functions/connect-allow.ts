import { dbUserResourceArn } from './lib/arn';
import { dynamoClient, iamClient } from './lib/clients';
import { loadConfig } from './lib/config';
import { ProvisioningError } from './lib/errors';
import { addConnectGrant } from './lib/iam/grants';
import { stepHandler } from './lib/logger';
import type { OnboardState } from './lib/steps';

export const lockTable = (env: NodeJS.ProcessEnv = process.env): string => {
  const table = env.GRANT_LOCK_TABLE;
  if (!table) throw new ProvisioningError('ConfigurationError', 'GRANT_LOCK_TABLE is not set');
  return table;
};

/** Step 5: let the principal connect as exactly this database user on exactly this resource. */
export const handler = stepHandler('AllowConnect', async ({ request, db }: Pick<OnboardState, 'request' | 'db'>) => {
  const resourceArn = dbUserResourceArn({ ...db, dbUser: request.dbUser });
  return addConnectGrant({ iam: iamClient(), lock: { ddb: dynamoClient(), table: lockTable() }, limits: loadConfig().iam }, request.principal, resourceArn, request.requestId);
});
