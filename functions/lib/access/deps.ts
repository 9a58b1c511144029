import { dynamoClient, eventBridgeClient, schedulerClient, snsClient } from '../core/clients';
import { loadConfig } from '../core/config';
import { requiredEnv } from '../core/env';
import type { LifecycleDeps } from './activation';
import type { RecordDeps } from './records';
import { startNamedExecution } from './start';
import { dynamoAccessRequestStore } from './store';

/** What the end steps in the VPC and in IAM need of the lifecycle: the record only (their bundles stay small). */
export const recordDepsFromEnv = (env: NodeJS.ProcessEnv = process.env): RecordDeps => ({
  store: dynamoAccessRequestStore(dynamoClient(), requiredEnv('ACCESS_REQUESTS_TABLE', env)),
  // Parsed once per container (loadConfig keeps what it parsed).
  config: loadConfig(env),
  now: () => new Date(),
});

/** What the lifecycle's functions are given by the stack (serverless.yml environment); the clients are per container. */
export const lifecycleDepsFromEnv = (env: NodeJS.ProcessEnv = process.env): LifecycleDeps => ({
  ...recordDepsFromEnv(env),
  notify: { events: eventBridgeClient(), sns: snsClient(), topicArn: requiredEnv('APPROVER_TOPIC_ARN', env) },
  schedules: { scheduler: schedulerClient(), group: requiredEnv('ACCESS_SCHEDULE_GROUP', env), roleArn: requiredEnv('SCHEDULER_ROLE_ARN', env) },
  machines: { activate: requiredEnv('ACTIVATE_STATE_MACHINE_ARN', env), end: requiredEnv('END_STATE_MACHINE_ARN', env) },
  startExecution: startNamedExecution,
});
