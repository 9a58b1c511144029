import type { Client } from 'pg';
import { secretsClient } from '../core/clients';
import type { ResolvedTargetConfig } from '../core/config';
import type { ResolvedTarget } from '../rds/target';
import { assertReachable } from '../rds/target';
import { adminCredentials, clientConfig, withAdminConnection } from './connection';

/** Runs `fn` on one admin connection to `database`, closed afterwards. */
export type AdminConnector = <T>(database: string, fn: (client: Client) => Promise<T>) => Promise<T>;

/**
 * The admin's access to one target for one invocation: credentials are fetched once (one
 * secret read or one token), connections are opened per database as the work needs them.
 */
export const targetAdmin = async (target: ResolvedTargetConfig, db: ResolvedTarget, opts: { readOnly?: boolean } = {}): Promise<AdminConnector> => {
  assertReachable(db);
  const creds = await adminCredentials(target, db, { secrets: secretsClient(db.region) });
  // Dry runs: every transaction of the session is read-only, whatever the code on it does.
  const session = opts.readOnly ? { options: '-c default_transaction_read_only=on' } : {};
  return async (database, fn) => withAdminConnection({ ...(await clientConfig(target, db, creds, database)), ...session }, fn);
};

/** One admin connection to the target's admin database for one piece of work. */
export const withTargetAdmin = async <T>(target: ResolvedTargetConfig, db: ResolvedTarget, fn: (client: Client) => Promise<T>): Promise<T> =>
  (await targetAdmin(target, db))(target.adminDatabase, fn);
