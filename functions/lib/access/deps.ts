import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mapAwsError } from '../core/aws-errors';
import { dynamoClient, eventBridgeClient, schedulerClient, sfnClient, snsClient } from '../core/clients';
import { loadConfig } from '../core/config';
import { requiredEnv } from '../core/env';
import type { LifecycleDeps } from './activation';
import { dynamoAccessRequestStore } from './store';

/** StartExecution that treats a name already used as done: every start of the lifecycle is named, so a repeat is a no-op. */
export const startNamedExecution = async (machineArn: string, name: string, input: Record<string, unknown>): Promise<void> => {
  try {
    await sfnClient().send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input: JSON.stringify(input) }));
  } catch (e) {
    if (e instanceof ExecutionAlreadyExists || (e as Error).name === 'ExecutionAlreadyExists') return;
    mapAwsError(e, `start execution ${name} of ${machineArn}`);
  }
};

/** What the lifecycle's functions are given by the stack (serverless.yml environment); the clients are per container. */
export const lifecycleDepsFromEnv = (env: NodeJS.ProcessEnv = process.env): LifecycleDeps => ({
  store: dynamoAccessRequestStore(dynamoClient(), requiredEnv('ACCESS_REQUESTS_TABLE', env)),
  config: loadConfig(env),
  now: () => new Date(),
  notify: { events: eventBridgeClient(), sns: snsClient(), topicArn: requiredEnv('APPROVER_TOPIC_ARN', env) },
  schedules: { scheduler: schedulerClient(), group: requiredEnv('ACCESS_SCHEDULE_GROUP', env), roleArn: requiredEnv('SCHEDULER_ROLE_ARN', env) },
  machines: { activate: requiredEnv('ACTIVATE_STATE_MACHINE_ARN', env), end: requiredEnv('END_STATE_MACHINE_ARN', env) },
  startExecution: startNamedExecution,
});
