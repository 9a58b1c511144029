import { dynamoClient, iamClient } from '../core/clients';
import { loadConfig } from '../core/config';
import { ProvisioningError } from '../core/errors';
import type { GrantDeps } from './grants';

/** What the grant and revoke functions work with when deployed: IAM, the lock table, the configured limits. */
export const grantDeps = (env: NodeJS.ProcessEnv = process.env): GrantDeps => {
  const table = env.GRANT_LOCK_TABLE;
  if (!table) throw new ProvisioningError('ConfigurationError', 'GRANT_LOCK_TABLE is not set');
  return { iam: iamClient(), lock: { ddb: dynamoClient(), table }, limits: loadConfig(env).iam };
};
