import type { Config } from '../functions/lib/core/config';
import { LocalStepFunctions, type RunnerOptions } from './asl-runner';
import type { LocalFunction } from './functions';
import { SimulatedStepFunctions } from './simulated-services';

/**
 * The composition root of the local stack, as serverless.yml is the deployed one's: the environment every function
 * gets (provider.environment), the ASL runner with the stack's concurrency (dbConcurrency, iam.grantConcurrency), and
 * Step Functions' API over it. The sandbox (tests, bench) and local mode both start from here; what differs between
 * them (which targets RDS knows, the HTTP API, the archive folder) stays with them.
 */
export interface LocalStackOptions {
  config: Config;
  functions: Record<string, LocalFunction>;
  region: string;
  accountId: string;
  lockTable: string;
  /** Wait, retry and queue timings of the runner (tests shorten them). */
  runner?: Omit<RunnerOptions, 'functions' | 'dbConcurrency' | 'grantConcurrency'>;
}

export interface LocalStack {
  runner: LocalStepFunctions;
  sfn: SimulatedStepFunctions;
  /** Puts the environment back and takes Step Functions' simulation out. */
  restore: () => void;
}

/** Sets `vars` in process.env; the function returned puts the previous values back. */
const setEnvironment = (vars: Record<string, string>): (() => void) => {
  const previous = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
};

export const assembleLocalStack = (o: LocalStackOptions): LocalStack => {
  const restoreEnvironment = setEnvironment({
    TARGETS_CONFIG: JSON.stringify({ ...o.config, deployment: undefined }),
    GRANT_LOCK_TABLE: o.lockTable,
    AWS_REGION: o.region,
    // Every grant slot runs in this one process, which therefore paces the account's whole rate (functions/connect-allow.ts).
    IAM_PACE_SHARES: '1',
  });
  const runner = new LocalStepFunctions({
    functions: o.functions,
    dbConcurrency: o.config.dbConcurrency,
    grantConcurrency: o.config.iam.grantConcurrency,
    ...o.runner,
  });
  const sfn = new SimulatedStepFunctions(runner, { region: o.region, accountId: o.accountId });
  const sfnMock = sfn.install();
  return {
    runner,
    sfn,
    restore: () => {
      sfnMock.restore();
      restoreEnvironment();
    },
  };
};
