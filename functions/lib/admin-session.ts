import type { Client } from 'pg';
import { secretsClient } from './clients';
import type { ResolvedTargetConfig } from './config';
import type { ResolvedTarget } from './rds';
import { assertReachable } from './rds';
import { adminCredentials, clientConfig, withAdminConnection } from './sql/connection';

/** One admin connection to `database` (default: the target's admin database) for one piece of work. */
export const withTargetAdmin = async <T>(target: ResolvedTargetConfig, db: ResolvedTarget, fn: (client: Client) => Promise<T>, database = target.adminDatabase): Promise<T> => {
  assertReachable(db);
  const creds = await adminCredentials(target, db, { secrets: secretsClient(db.region) });
  return withAdminConnection(clientConfig(target, db, creds, database), fn);
};
