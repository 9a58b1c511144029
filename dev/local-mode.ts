import './polyfills';
import type { AddressInfo } from 'node:net';
import pg, { escapeIdentifier } from 'pg';
import { handler as api } from '../functions/api';
import type { Config } from '../functions/lib/core/config';
import { loadConfigFile } from '../functions/lib/core/config-file';
import { loadIdentityStoreFile } from './identity-store-file';
import { type LocalPostgres, startLocalPostgres } from './embedded-postgres';
import { connectionError, DATABASE_URL, describeAttempt, serverFromUrl } from './database-url';
import type { PostgresBinaries } from './postgres-binaries';
import type { LocalStepFunctions } from './asl-runner';
import { assertPortFree, portError } from './port-check';
import { FUNCTIONS, type LocalFunction } from './functions';
import { collectInterrupted, type InterruptedRun, restoreInterrupted, saveInterrupted } from './interrupted-runs';
import { createHttpApiServer } from './http-api';
import { type IamSimulationOptions, SimulatedAws } from './simulated-aws';
import { SimulatedIdentityStore, SimulatedLambda } from './simulated-services';
import { assembleLocalStack, LOCAL_ACCESS } from './stack';
import type { HttpResult } from '../functions/lib/api/http';
import { ProvisioningError } from '../functions/lib/core/errors';
import { BY_STATE_INDEX, BY_STATE_KEYS } from '../functions/lib/access/store';

/**
 * Local mode (`npm start`): the whole system on one machine. A real PostgreSQL server (embedded,
 * or DATABASE_URL) stands in for every configured target; IAM, RDS, Secrets Manager, DynamoDB,
 * Step Functions and Lambda are SIMULATED in memory at the SDK boundary; executions run the real
 * statemachines/*.asl.json; the API is the real `api` function behind a local HTTP server.
 */
export const DEFAULT_TARGETS_FILE = 'config/targets.local.json';
export const LOCAL_LOCK_TABLE = 'rds-iam-access-local-grant-locks';
export const LOCAL_ACCESS_REQUESTS_TABLE = 'rds-iam-access-local-access-requests';
export const DB_PLAN_FUNCTION = 'dbUserPlan';
export const LOCAL_ARCHIVE_BUCKET = 'rds-iam-access-local-archive';
export const DEFAULT_ARCHIVE_DIR = '.local/archive';
export const DEFAULT_IDENTITY_STORE_FILE = 'config/identity-store.local.json';

export interface LocalModeOptions {
  targetsFile: string;
  port: number;
  /** An existing server to use instead of the embedded one; its user acts as the targets' master user. */
  databaseUrl?: string;
  /** How long each Wait state lasts locally (the workflow polls RDS while IAM auth is applied). */
  waitMs: number;
  /** Where the execution archive (the S3 bucket, simulated) is written. */
  archiveDir: string;
  /** People and groups of the simulated Identity Center identity store (JSON file), if any. */
  identityStoreFile?: string;
  /** The functions executions run (default: the stack's); `npm run soak` wraps them to see every error a step throws. */
  functions?: Record<string, LocalFunction>;
  /** IAM throttling, read lag, ConcurrentModification; `pageSize` pages the identity store's lists too. Off unless set. */
  simulation?: IamSimulationOptions;
}

/** A number from the environment, refused with the variable's name and what it may be. */
const envNumber = (env: NodeJS.ProcessEnv, name: string, allowed: string, ok: (n: number) => boolean): number | undefined => {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || !ok(n)) throw new Error(`${name} must be ${allowed}, not "${raw}"`);
  return n;
};

/**
 * The simulation's fault knobs from the environment (README, local mode): LOCAL_IAM_THROTTLE_RPS and
 * LOCAL_IAM_THROTTLE_BURST (default: the rate), LOCAL_IAM_READ_THROTTLE_RPS, LOCAL_IAM_CONSISTENCY_LAG_MS,
 * LOCAL_PAGE_SIZE, LOCAL_IAM_CONCURRENT_MODIFICATION_RATE, LOCAL_SIM_SEED.
 */
export const simulationFromEnv = (env: NodeJS.ProcessEnv): IamSimulationOptions => {
  const positive = (n: number) => n > 0;
  const rate = envNumber(env, 'LOCAL_IAM_THROTTLE_RPS', 'a number of calls per second above 0', positive);
  const burst = envNumber(env, 'LOCAL_IAM_THROTTLE_BURST', 'a whole number of calls of at least 1', (n) => Number.isInteger(n) && n >= 1);
  if (burst !== undefined && rate === undefined) throw new Error('LOCAL_IAM_THROTTLE_BURST needs LOCAL_IAM_THROTTLE_RPS (the rate the bucket refills at)');
  const readRate = envNumber(env, 'LOCAL_IAM_READ_THROTTLE_RPS', 'a number of calls per second above 0', positive);
  const lag = envNumber(env, 'LOCAL_IAM_CONSISTENCY_LAG_MS', 'milliseconds, 0 or more', (n) => n >= 0);
  const pageSize = envNumber(env, 'LOCAL_PAGE_SIZE', 'a whole number of items of at least 1', (n) => Number.isInteger(n) && n >= 1);
  const cm = envNumber(env, 'LOCAL_IAM_CONCURRENT_MODIFICATION_RATE', 'a share of calls from 0 to 1', (n) => n >= 0 && n <= 1);
  const seed = envNumber(env, 'LOCAL_SIM_SEED', 'a whole number', Number.isInteger);
  return {
    ...(rate !== undefined ? { throttle: { ratePerSecond: rate, burst: burst ?? Math.max(1, Math.ceil(rate)) } } : {}),
    ...(readRate !== undefined ? { readThrottle: { ratePerSecond: readRate, burst: Math.max(1, Math.ceil(readRate)) } } : {}),
    ...(lag !== undefined ? { consistencyLagMs: lag } : {}),
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(cm !== undefined ? { concurrentModificationRate: cm } : {}),
    ...(seed !== undefined ? { seed } : {}),
  };
};

export interface LocalMode {
  apiUrl: string;
  postgresUrl: string;
  config: Config;
  runner: LocalStepFunctions;
  aws: SimulatedAws;
  /** Where the embedded server's binaries run from (undefined with DATABASE_URL). */
  postgresBinaries?: PostgresBinaries;
  /** What a user should know before the first request: databases the targets allow that the server lacks. */
  notices: string[];
  /** Runs the last stop interrupted (from the archive folder), known again as ABORTED: a retry finishes each. */
  interruptedBefore: InterruptedRun[];
  /** Stops everything; answers the runs it interrupted (still RUNNING), saved for the next start unless `notKept` says why not. */
  stop: () => Promise<{ interrupted: InterruptedRun[]; notKept?: string }>;
}

/** Reads the targets file and refuses what the local server cannot stand in for. */
export const loadLocalConfig = (file: string): Config => {
  const config = loadConfigFile(file);
  const targets = Object.entries(config.targets);
  if (targets.length === 0) throw new Error(`${file}: no targets`);
  for (const [name, t] of targets) {
    if (t.admin.method !== 'secret') throw new Error(`${file}: target "${name}": local mode supports admin.method "secret" only (IAM tokens need RDS)`);
    if (t.tls !== 'disable') throw new Error(`${file}: target "${name}": set "tls": "disable" for local mode (the local server has no RDS certificate)`);
  }
  if (new Set(targets.map(([, t]) => t.accountId)).size > 1)
    throw new Error(`${file}: local mode simulates one AWS account; all targets need the same accountId`);
  return config;
};

/**
 * What RDS and a DBA provide before onboarding: rds_iam, the allowed group roles, the successor
 * roles. Returns the server's version, which the simulated RDS then reports, and the databases the targets
 * allow that the server does not have (requests naming them would fail part-way).
 */
const prepareServer = async (
  server: LocalPostgres,
  config: Config,
  viaUrl: boolean,
): Promise<{ engineVersion: string; missingDatabases: Array<{ database: string; targets: string[] }> }> => {
  const names = new Set(['rds_iam', ...Object.values(config.targets).flatMap((t) => [...t.allowedDbRoles, t.successorRole])]);
  const client = new pg.Client({ connectionString: server.url(server.superUser) });
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    if (!viaUrl) throw e;
    throw connectionError(e, { host: server.host, port: server.port, user: server.superUser, database: 'postgres' });
  }
  try {
    for (const name of names) {
      const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount;
      if (exists) continue;
      await client.query(`CREATE ROLE ${escapeIdentifier(name)} NOLOGIN`);
      // PostgreSQL 16+: the admin grants only roles it holds ADMIN OPTION on, as on RDS after a DBA's GRANT.
      if (server.masterUser !== server.superUser)
        await client.query(`GRANT ${escapeIdentifier(name)} TO ${escapeIdentifier(server.masterUser)} WITH ADMIN OPTION`);
    }
    const allowed = new Map<string, string[]>();
    for (const [target, t] of Object.entries(config.targets)) for (const d of t.allowedDatabases) allowed.set(d, [...(allowed.get(d) ?? []), target]);
    const present = new Set(
      (await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [[...allowed.keys()]])).rows.map((r) => r.datname),
    );
    const missingDatabases = [...allowed].filter(([d]) => !present.has(d)).map(([database, targets]) => ({ database, targets }));
    const engineVersion = (await client.query<{ v: string }>(`SELECT split_part(current_setting('server_version'), ' ', 1) AS v`)).rows[0].v;
    return { engineVersion, missingDatabases };
  } finally {
    await client.end();
  }
};

/** EventBridge's delivery to idpEvents; a refused event is answered as the dead-letter queue would record it. */
const deliverIdentityEvent = async (body: string): Promise<HttpResult> => {
  const reply = (statusCode: number, value: unknown): HttpResult => ({
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return reply(400, { error: 'ValidationError', message: 'the body must be an EventBridge event (JSON)' });
  }
  try {
    return reply(200, await FUNCTIONS.idpEvents.handler(event as never));
  } catch (e) {
    if (e instanceof ProvisioningError) return reply(e.httpStatus, { ...e.toJSON(), deadLetter: true });
    throw e;
  }
};

export const startLocalMode = async (opts: LocalModeOptions): Promise<LocalMode> => {
  const config = loadLocalConfig(opts.targetsFile);
  const identityStore = opts.identityStoreFile ? loadIdentityStoreFile(opts.identityStoreFile) : undefined;
  const targets = Object.entries(config.targets);
  const { accountId, region } = targets[0][1];
  // Before PostgreSQL starts: a port in use is found at once, not after the server is up.
  await assertPortFree(opts.port);
  const embedded = opts.databaseUrl ? undefined : await startLocalPostgres();
  const server = embedded ?? serverFromUrl(opts.databaseUrl as string);
  try {
    const { engineVersion, missingDatabases } = await prepareServer(server, config, !embedded);
    const where = embedded
      ? 'the embedded server'
      : `${DATABASE_URL} (${describeAttempt({ host: server.host, port: server.port, user: server.masterUser, database: 'postgres' })})`;
    const notices = missingDatabases.map(
      ({ database, targets: names }) =>
        `database "${database}" (in allowedDatabases of target ${names.map((n) => `"${n}"`).join(', ')}) ` +
        `does not exist on ${where}: requests naming it will fail; create it (CREATE ` +
        `DATABASE ${escapeIdentifier(database)}) or remove it from ${opts.targetsFile}`,
    );

    const aws = new SimulatedAws(accountId).install();
    aws.iam.autoCreatePrincipals = true;
    if (opts.simulation) aws.iam.configure(opts.simulation);
    aws.s3.directory = opts.archiveDir;
    for (const [, t] of targets) {
      aws.rds.add({
        kind: t.kind,
        identifier: t.identifier,
        region: t.region,
        accountId: t.accountId,
        host: server.host,
        port: server.port,
        masterUser: server.masterUser,
        engineVersion,
        iamAuthEnabled: false,
      });
      if (t.admin.method === 'secret') aws.secrets.put(t.admin.secretArn, { username: server.masterUser, password: server.masterPassword, engine: 'postgres' });
    }
    const stack = assembleLocalStack({
      config,
      functions: opts.functions ?? FUNCTIONS,
      region,
      accountId,
      lockTable: LOCAL_LOCK_TABLE,
      runner: { waitMs: opts.waitMs },
    });
    const { runner, sfn } = stack;
    const interruptedBefore = restoreInterrupted(opts.archiveDir, runner);
    const mocks: Array<{ restore: () => void }> = [stack, new SimulatedLambda(FUNCTIONS).install()];
    process.env.DB_PLAN_FUNCTION = DB_PLAN_FUNCTION;
    process.env.ARCHIVE_BUCKET = LOCAL_ARCHIVE_BUCKET;
    // Requests under approval policies: the table the stack will have, in memory (gone when local mode stops).
    aws.locks.addTable(LOCAL_ACCESS.table, { [BY_STATE_INDEX]: BY_STATE_KEYS });
    // Schedules fire on their time (checked every second: a grant of PT1M ends a minute after it starts); the sweeper
    // runs every 30 s (deployed: every 5 minutes), so a lost schedule or a failed end is made good here too.
    stack.scheduler.start(1000);
    const sweeper = setInterval(
      () => void FUNCTIONS.accessSweep.handler({} as never).catch((e: Error) => console.error(`access sweep failed: ${e.message}`)),
      30_000,
    );
    sweeper.unref();
    // The EventBridge rule of the stack: every execution that ends is archived by the same function.
    sfn.onExecutionEnd = (event) =>
      FUNCTIONS.executionArchive.handler(event as never).catch((e: Error) => console.error(`archiving ${event.detail.name} failed: ${e.message}`));
    if (identityStore) mocks.push(new SimulatedIdentityStore(identityStore, { pageSize: opts.simulation?.pageSize }).install());
    // The deployed api handler itself, configured through its environment as serverless.yml does; and
    // POST /local/events, which hands an EventBridge event to idpEvents as its rules would.
    const http = createHttpApiServer(api, { 'POST /local/events': (body) => deliverIdentityEvent(body) });
    await new Promise<void>((resolve, reject) => {
      // Taken between the check above and now (another process): the same message.
      http.once('error', (e: NodeJS.ErrnoException) => reject(portError(e, opts.port)));
      http.listen(opts.port, '127.0.0.1', resolve);
    });
    const { port } = http.address() as AddressInfo;

    let stopped = false;
    return {
      apiUrl: `http://127.0.0.1:${port}`,
      postgresUrl: server.url(server.masterUser, 'postgres'),
      config,
      runner,
      aws,
      postgresBinaries: embedded?.binaries,
      notices,
      interruptedBefore,
      stop: async () => {
        if (stopped) return { interrupted: [] };
        stopped = true;
        clearInterval(sweeper);
        // Before anything closes: what is RUNNING now is what this stop interrupts.
        const interrupted = collectInterrupted(runner);
        let notKept: string | undefined;
        try {
          saveInterrupted(opts.archiveDir, interrupted);
        } catch (e) {
          // The stop goes on: PostgreSQL must not outlive it. The runs are still listed, with what to do instead.
          notKept = (e as Error).message;
        }
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        await Promise.allSettled(sfn.endedDeliveries);
        for (const m of mocks) m.restore();
        aws.restore();
        await server.stop();
        return { interrupted: interrupted.runs, ...(notKept ? { notKept } : {}) };
      },
    };
  } catch (e) {
    await server.stop();
    throw e;
  }
};
