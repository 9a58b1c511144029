import type { Config } from '../functions/lib/core/config';
import { LocalStepFunctions, type RunnerOptions } from './asl-runner';
import type { LocalFunction } from './functions';
import { SimulatedEvents } from './sim/events';
import { SimulatedScheduler } from './sim/scheduler';
import { SimulatedSns } from './simulated-sns';
import { SimulatedStepFunctions } from './simulated-services';

/** The state machines of the stack (statemachines/NAME.asl.json). */
export const STATE_MACHINES = ['onboard', 'offboard', 'activate', 'end'] as const;
/** The stack's access-request resources, as serverless.yml names them for the stage `local`. */
export const LOCAL_ACCESS = {
  table: 'rds-iam-access-local-access-requests',
  scheduleGroup: 'rds-iam-access-local',
  schedulerRole: 'arn:aws:iam::123456789012:role/rds-iam-access-local-scheduler',
  approverTopic: 'arn:aws:sns:eu-west-1:123456789012:rds-iam-access-local-approvers',
} as const;

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
  /** EventBridge Scheduler: due schedules start executions through `sfn` (fireDue, or start() on a timer). */
  scheduler: SimulatedScheduler;
  /** What the lifecycle published: EventBridge's default bus, and the approvers' SNS topic. */
  events: SimulatedEvents;
  sns: SimulatedSns;
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
  const sfn = new SimulatedStepFunctions(runner, { region: o.region, accountId: o.accountId, machines: [...STATE_MACHINES] });
  const restoreMachines = setEnvironment({
    ONBOARD_STATE_MACHINE_ARN: sfn.arns.onboard,
    OFFBOARD_STATE_MACHINE_ARN: sfn.arns.offboard,
    ACTIVATE_STATE_MACHINE_ARN: sfn.arns.activate,
    END_STATE_MACHINE_ARN: sfn.arns.end,
    ACCESS_REQUESTS_TABLE: LOCAL_ACCESS.table,
    ACCESS_SCHEDULE_GROUP: LOCAL_ACCESS.scheduleGroup,
    SCHEDULER_ROLE_ARN: LOCAL_ACCESS.schedulerRole,
    APPROVER_TOPIC_ARN: LOCAL_ACCESS.approverTopic,
    ACCESS_RECORD_FUNCTION: 'accessRecord',
  });
  // Scheduler's universal target sfn:startExecution: its Input is the StartExecution request.
  const machineOf = new Map(Object.entries(sfn.arns).map(([name, arn]) => [arn, name]));
  const scheduler = new SimulatedScheduler(async (target) => {
    const start = JSON.parse(target.Input ?? '{}') as { StateMachineArn?: string; Name?: string; Input?: string };
    const machine = start.StateMachineArn ? machineOf.get(start.StateMachineArn) : undefined;
    if (!machine || !start.Name) throw new Error(`schedule target names no state machine of the stack: ${target.Input}`);
    runner.start(machine, start.Name, JSON.parse(start.Input ?? '{}'));
  });
  const events = new SimulatedEvents();
  const sns = new SimulatedSns();
  const mocks = [sfn.install(), scheduler.install(), events.install(), sns.install()];
  return {
    runner,
    sfn,
    scheduler,
    events,
    sns,
    restore: () => {
      scheduler.stop();
      for (const m of mocks) m.restore();
      restoreMachines();
      restoreEnvironment();
    },
  };
};
