/**
 * The api handler over the whole simulated stack, as the API tests drive it: the local ASL interpreter behind the
 * Step Functions simulation (every ended run archived by the real executionArchive), the real dbUserPlan behind the
 * Lambda simulation, and a real PostgreSQL.
 */
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { handler as archiveHandler } from '../../functions/execution-archive';
import type { Config } from '../../functions/lib/core/config';
import { lambdaDatabasePlanner } from '../../functions/lib/api/plan-client';
import type { ApiDeps } from '../../functions/lib/api/routes';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { answerTasksOf, SimulatedLambda, SimulatedStepFunctions } from '../../dev/simulated-services';
import { testPg, uniqueName } from './pg';

export const ACCOUNT = '123456789012';
export const BUCKET = 'rds-iam-access-test-archive';
const ENV_KEYS = ['ONBOARD_STATE_MACHINE_ARN', 'OFFBOARD_STATE_MACHINE_ARN', 'ARCHIVE_BUCKET'] as const;

/** What the api handler is given in Lambda, pointed at these state machines and the test archive. */
export const apiDepsOf = (config: Config, stateMachines: ApiDeps['executions']['stateMachines']): ApiDeps => ({
  config,
  executions: { sfn: new SFNClient({ region: 'eu-west-1' }), stateMachines },
  plan: {
    rds: (region) => new RDSClient({ region }),
    iam: new IAMClient({}),
    limits: config.iam,
    database: lambdaDatabasePlanner(new LambdaClient({}), 'dbUserPlan'),
  },
  archive: { s3: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET },
  newRequestId: () => uniqueName('req'),
});

export interface ApiStack {
  sb: Sandbox;
  sfn: SimulatedStepFunctions;
  deps: ApiDeps;
  /** Every run ended and every archive delivery made. */
  settled: () => Promise<void>;
  /** Waits for what is still running, then undoes the mocks and the environment. */
  stop: () => Promise<void>;
}

export const startApiStack = (stage: string): ApiStack => {
  const sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  const sfn = new SimulatedStepFunctions(sb.runner, { region: 'eu-west-1', accountId: ACCOUNT, stage });
  sfn.onExecutionEnd = (event) => archiveHandler(event as never);
  const mocks = [sfn.install(), new SimulatedLambda(FUNCTIONS).install()];
  process.env.ONBOARD_STATE_MACHINE_ARN = sfn.arns.onboard;
  process.env.OFFBOARD_STATE_MACHINE_ARN = sfn.arns.offboard;
  process.env.ARCHIVE_BUCKET = BUCKET;
  const settled = async () => {
    await sb.runner.idle();
    await Promise.all(sfn.deliveries);
  };
  return {
    sb,
    sfn,
    deps: apiDepsOf(sb.config, { onboarding: sfn.arns.onboard, offboarding: sfn.arns.offboard }),
    settled,
    stop: async () => {
      await settled();
      for (const m of mocks) m.restore();
      sb.restore();
      for (const k of ENV_KEYS) delete process.env[k];
    },
  };
};

/**
 * Step Functions mocked at the SDK boundary, as the API tests drive it: executions unknown unless a test says
 * otherwise, a started one echoing its start time; the database limiter's consumer still answers its waiting state
 * through SFNClient, so this passes that on to the sandbox's runner.
 */
export const mockedStepFunctions = (sb: Sandbox): AwsClientStub<SFNClient> => {
  const sfn = mockClient(SFNClient);
  answerTasksOf(sfn, sb.runner);
  sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  sfn.on(StartExecutionCommand).callsFake(async (i: { stateMachineArn: string; name: string }) => ({
    executionArn: `${i.stateMachineArn.replace(':stateMachine:', ':execution:')}:${i.name}`,
    startDate: new Date(),
    $metadata: {},
  }));
  return sfn;
};
