import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand, ExecutionAlreadyExists, ExecutionDoesNotExist, SFNClient, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import type { LocalStepFunctions } from './asl-runner';
import type { LocalFunction } from './functions';

/**
 * A SIMULATION of the Step Functions and Lambda APIs the `api` function calls, for tests and local
 * mode: StartExecution / DescribeExecution run and read executions of the real ASL files through
 * the local interpreter; Invoke calls a function of the stack in-process. Plugged in at the SDK
 * boundary with aws-sdk-client-mock, so the deployed code runs unchanged. Never deployed.
 */
const meta = { $metadata: {} };

export class SimulatedStepFunctions {
  /** State machine ARN per ASL file name (statemachines/NAME.asl.json). */
  readonly arns: Record<string, string>;

  constructor(
    private readonly runner: LocalStepFunctions,
    opts: { region: string; accountId: string; stage?: string; machines?: string[] },
  ) {
    const stage = opts.stage ?? 'local';
    this.arns = Object.fromEntries((opts.machines ?? ['onboard', 'offboard']).map((m) => [m, `arn:aws:states:${opts.region}:${opts.accountId}:stateMachine:rds-iam-access-${stage}-${m}`]));
  }

  private machineOf(stateMachineArn: string): string {
    const name = Object.entries(this.arns).find(([, arn]) => arn === stateMachineArn)?.[0];
    if (!name) throw new StateMachineDoesNotExist({ message: `State Machine Does Not Exist: '${stateMachineArn}'`, ...meta });
    return name;
  }

  private parseExecutionArn(executionArn: string): { machine: string; name: string } {
    const i = executionArn.lastIndexOf(':');
    const machineArn = executionArn.slice(0, i).replace(':execution:', ':stateMachine:');
    return { machine: this.machineOf(machineArn), name: executionArn.slice(i + 1) };
  }

  install(): AwsClientStub<SFNClient> {
    const m = mockClient(SFNClient);
    m.on(StartExecutionCommand).callsFake(async (i: { stateMachineArn: string; name: string; input?: string }) => {
      const machine = this.machineOf(i.stateMachineArn);
      const executionArn = `${i.stateMachineArn.replace(':stateMachine:', ':execution:')}:${i.name}`;
      const input = JSON.parse(i.input ?? '{}') as unknown;
      const existing = this.runner.find(machine, i.name);
      if (existing) {
        // Step Functions: the same name and input while running is the same execution; otherwise a conflict.
        if (existing.status === 'RUNNING' && JSON.stringify(existing.input) === JSON.stringify(input)) return { executionArn, startDate: existing.startDate, ...meta };
        throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${executionArn}'`, ...meta });
      }
      const { record } = this.runner.start(machine, i.name, input);
      return { executionArn, startDate: record.startDate, ...meta };
    });
    m.on(DescribeExecutionCommand).callsFake(async (i: { executionArn: string }) => {
      const { machine, name } = this.parseExecutionArn(i.executionArn);
      const r = this.runner.find(machine, name);
      if (!r) throw new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${i.executionArn}'`, ...meta });
      return {
        executionArn: i.executionArn,
        stateMachineArn: this.arns[machine],
        name,
        status: r.status,
        startDate: r.startDate,
        ...(r.stopDate ? { stopDate: r.stopDate } : {}),
        input: JSON.stringify(r.input),
        ...(r.output !== undefined ? { output: JSON.stringify(r.output) } : {}),
        ...(r.error !== undefined ? { error: r.error } : {}),
        ...(r.cause !== undefined ? { cause: r.cause } : {}),
        ...meta,
      };
    });
    return m;
  }
}

export class SimulatedLambda {
  constructor(private readonly functions: Record<string, LocalFunction>) {}

  install(): AwsClientStub<LambdaClient> {
    const m = mockClient(LambdaClient);
    m.on(InvokeCommand).callsFake(async (i: { FunctionName: string; Payload?: Uint8Array }) => {
      const fn = this.functions[i.FunctionName];
      if (!fn) throw new ResourceNotFoundException({ message: `Function not found: ${i.FunctionName}`, Type: 'User', ...meta });
      const event = JSON.parse(new TextDecoder().decode(i.Payload ?? new Uint8Array())) as never;
      const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
      try {
        return { StatusCode: 200, Payload: encode(await fn.handler(event)), ...meta };
      } catch (e) {
        // Lambda's answer to a handler that throws: status 200, FunctionError, and the error as the payload.
        return { StatusCode: 200, FunctionError: 'Unhandled', Payload: encode({ errorType: (e as Error).name, errorMessage: (e as Error).message }), ...meta };
      }
    });
    return m;
  }
}
