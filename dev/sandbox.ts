import type { Config } from '../functions/lib/core/config';
import type { LocalStepFunctions, RunnerOptions } from './asl-runner';
import { EXAMPLE_DATABASE, EXAMPLE_GROUP_ROLES, SUCCESSOR_ROLE } from './embedded-postgres';
import { FUNCTIONS, type LocalFunction } from './functions';
import { type IamSimulationOptions, SimulatedAws } from './simulated-aws';
import type { SimulatedStepFunctions } from './simulated-services';
import { assembleLocalStack } from './stack';

/**
 * Everything the workflows need, on one machine: a real PostgreSQL server (given), the AWS
 * control plane simulated in memory, the targets configuration in the environment as
 * serverless.yml sets it, and the ASL interpreter bound to the real handlers.
 */
export interface PgEndpoint {
  host: string;
  port: number;
  masterUser: string;
  masterPassword: string;
}

export const ACCOUNT_ID = '123456789012';
export const REGION = 'eu-west-1';
export const LOCK_TABLE = 'rds-iam-access-grant-locks';
export const QUARANTINE_ROLE = 'iam_access_quarantine';
export const MASTER_SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:rds!db-local-master-AbCdEf`;

export interface SandboxOptions {
  pg: PgEndpoint;
  dbConcurrency?: number;
  waitMs?: number;
  retryMs?: number;
  /** The stack's functions, for a test that wraps one (to hold a step at a chosen point). */
  functions?: Record<string, LocalFunction>;
  /** The state machines' own backoff, scaled in time (see RunnerOptions.retryScale); ignored with retryMs. */
  retryScale?: number;
  /** The limiter's queue timings (RunnerOptions.queue): a test of a dead slot holder shortens them. */
  queue?: RunnerOptions['queue'];
  /** IAM throttling, read lag, page size, ConcurrentModification: off unless set. */
  iam?: IamSimulationOptions;
  /** iam.writesPerSecond and iam.grantConcurrency of the configuration (defaults 100 and 2: the pace out of the way). */
  iamPace?: { writesPerSecond?: number; grantConcurrency?: number };
}

const target = (kind: 'instance' | 'cluster', identifier: string, extra: Partial<Config['targets'][string]> = {}): Config['targets'][string] => ({
  kind,
  identifier,
  region: REGION,
  accountId: ACCOUNT_ID,
  allowedDbRoles: [...EXAMPLE_GROUP_ROLES],
  // no_such_db: allowed but missing, as after a database was dropped (the run refuses it: UnknownDatabase).
  allowedDatabases: [EXAMPLE_DATABASE, 'postgres', 'no_such_db'],
  admin: { method: 'secret', secretArn: MASTER_SECRET_ARN },
  successorRole: SUCCESSOR_ROLE,
  adminDatabase: 'postgres',
  iamAuth: { enable: 'immediately', pollSeconds: 30, maxPolls: 20 },
  tls: 'disable',
  protectedRoles: [],
  reassignment: { unsafeObjects: 'quarantine', quarantineRole: QUARANTINE_ROLE },
  ...extra,
});

/** The example targets: all point at the one local server, as different RDS resources. */
export const sandboxConfig = (dbConcurrency: number, iamPace: SandboxOptions['iamPace'] = {}): Config => ({
  targets: {
    orders: target('instance', 'orders-db'),
    analytics: target('cluster', 'analytics-cluster'),
    legacy: target('instance', 'legacy-db'),
    ledger: target('instance', 'ledger-db', { iamAuth: { enable: 'next-maintenance-window', pollSeconds: 3600, maxPolls: 3 } }),
    frozen: target('instance', 'frozen-db', { iamAuth: { enable: 'never', pollSeconds: 30, maxPolls: 1 } }),
  },
  iam: {
    attachedPoliciesQuota: 10,
    maxGrantPoliciesPerPrincipal: 4,
    grantablePrincipals: {},
    writesPerSecond: iamPace.writesPerSecond ?? 100,
    grantConcurrency: iamPace.grantConcurrency ?? 2,
  },
  api: { admins: [`arn:aws:iam::${ACCOUNT_ID}:role/platform-admin`], auditors: [`arn:aws:iam::${ACCOUNT_ID}:role/auditor`], selfService: true },
  dbConcurrency,
  approvalPolicies: [],
  operations: { reconcile: { schedule: 'cron(0 5 * * ? *)', enabled: true, repair: { removeDanglingGrants: false } } },
});

export interface Sandbox {
  aws: SimulatedAws;
  config: Config;
  runner: LocalStepFunctions;
  /** Step Functions' API over `runner` (the lease asks it whether a holder still runs). */
  sfn: SimulatedStepFunctions;
  restore: () => void;
}

export const createSandbox = (opts: SandboxOptions): Sandbox => {
  const dbConcurrency = opts.dbConcurrency ?? 10;
  const aws = new SimulatedAws(ACCOUNT_ID).install();
  if (opts.iam) aws.iam.configure(opts.iam);
  const { host, port, masterUser, masterPassword } = opts.pg;
  aws.rds.add({ kind: 'instance', identifier: 'orders-db', host, port, masterUser, iamAuthEnabled: true });
  aws.rds.add({ kind: 'cluster', identifier: 'analytics-cluster', host, port, masterUser, iamAuthEnabled: true, engineVersion: '16.6' });
  aws.rds.add({ kind: 'instance', identifier: 'legacy-db', host, port, masterUser, iamAuthEnabled: false, engineVersion: '13.15' });
  aws.rds.add({ kind: 'instance', identifier: 'ledger-db', host, port, masterUser, iamAuthEnabled: false });
  aws.rds.add({ kind: 'instance', identifier: 'frozen-db', host, port, masterUser, iamAuthEnabled: false });
  aws.secrets.put(MASTER_SECRET_ARN, { username: masterUser, password: masterPassword, engine: 'postgres' });

  const config = sandboxConfig(dbConcurrency, opts.iamPace);
  const stack = assembleLocalStack({
    config,
    functions: opts.functions ?? FUNCTIONS,
    region: REGION,
    accountId: ACCOUNT_ID,
    lockTable: LOCK_TABLE,
    runner: { waitMs: opts.waitMs, retryMs: opts.retryMs, retryScale: opts.retryScale, queue: opts.queue },
  });
  return {
    aws,
    config,
    runner: stack.runner,
    sfn: stack.sfn,
    restore: () => {
      stack.restore();
      aws.restore();
    },
  };
};
