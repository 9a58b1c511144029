import {
  DescribeGroupCommand,
  DescribeUserCommand,
  GetGroupIdCommand,
  IdentitystoreClient,
  ListGroupMembershipsCommand,
  ListGroupMembershipsForMemberCommand,
  ListUsersCommand,
  ResourceNotFoundException as IdentityStoreNotFound,
  ValidationException,
} from '@aws-sdk/client-identitystore';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  InvalidToken,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { allStates, type ExecutionRecord, functionKeyOf, loadDefinition, type LocalStepFunctions } from './asl-runner';
import { toHistoryEvents } from './sfn-history';
import { pageOf } from './sim-faults';
import type { LocalFunction } from './functions';

/**
 * A SIMULATION of the Step Functions and Lambda APIs the `api` function calls, for tests and local
 * mode: StartExecution / DescribeExecution run and read executions of the real ASL files through
 * the local interpreter; Invoke calls a function of the stack in-process. Plugged in at the SDK
 * boundary with aws-sdk-client-mock, so the deployed code runs unchanged. Never deployed.
 */
const meta = { $metadata: {} };

/** What EventBridge delivers when an execution ends ("Step Functions Execution Status Change"). */
export interface ExecutionStatusChange {
  version: '0';
  id: string;
  'detail-type': 'Step Functions Execution Status Change';
  source: 'aws.states';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: {
    executionArn: string;
    stateMachineArn: string;
    name: string;
    status: string;
    startDate: number;
    stopDate: number | null;
    input: string;
    output: string | null;
    error: string | null;
    cause: string | null;
  };
}

/**
 * SendTaskHeartbeat / SendTaskSuccess / SendTaskFailure on `m`, answering the states of `runner` that wait for a task token (the
 * database limiter's consumer calls them). A test that mocks SFNClient itself adds them with this, or the
 * limiter's states would wait forever.
 */
export const answerTasksOf = (m: AwsClientStub<SFNClient>, runner: LocalStepFunctions): void => {
  const timedOut = () => new TaskTimedOut({ message: 'Task Timed Out', ...meta });
  m.on(SendTaskHeartbeatCommand).callsFake(async (i: { taskToken: string }) => {
    if (!runner.isWaiting(i.taskToken)) throw timedOut();
    return meta;
  });
  m.on(SendTaskSuccessCommand).callsFake(async (i: { taskToken: string; output: string }) => {
    if (!runner.answerTask(i.taskToken, { output: JSON.parse(i.output) as unknown })) throw timedOut();
    return meta;
  });
  m.on(SendTaskFailureCommand).callsFake(async (i: { taskToken: string; error?: string; cause?: string }) => {
    // The interpreter reports a failed Lambda task with its message as the cause: the same here, from the
    // Lambda-shaped cause the consumer sends, so a step fails alike whichever way it ran.
    const cause = ((): string => {
      try {
        const parsed = JSON.parse(i.cause ?? '') as { errorMessage?: unknown };
        return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : (i.cause ?? '');
      } catch {
        return i.cause ?? '';
      }
    })();
    if (!runner.answerTask(i.taskToken, { error: i.error ?? 'States.TaskFailed', cause })) throw timedOut();
    return meta;
  });
};

export class SimulatedStepFunctions {
  /** State machine ARN per ASL file name (statemachines/NAME.asl.json). */
  readonly arns: Record<string, string>;
  /** Executions whose history Step Functions no longer has (90 days after they ended). */
  readonly expired = new Set<string>();
  /** EventBridge's delivery of the status change when an execution ends (the archive rule). */
  onExecutionEnd?: (event: ExecutionStatusChange) => Promise<unknown>;
  /** Deliveries in flight, for tests and a clean stop. */
  readonly deliveries: Array<Promise<unknown>> = [];
  /** Those of executions that have ended: what a stop waits for (a RUNNING execution's would hold it until it ends). */
  readonly endedDeliveries: Array<Promise<unknown>> = [];
  private readonly lambdaArnPrefix: string;

  constructor(
    private readonly runner: LocalStepFunctions,
    private readonly opts: { region: string; accountId: string; stage?: string; machines?: string[] },
  ) {
    const stage = opts.stage ?? 'local';
    this.arns = Object.fromEntries(
      (opts.machines ?? ['onboard', 'offboard']).map((m) => [m, `arn:aws:states:${opts.region}:${opts.accountId}:stateMachine:rds-iam-access-${stage}-${m}`]),
    );
    this.lambdaArnPrefix = `arn:aws:lambda:${opts.region}:${opts.accountId}:function:rds-iam-access-${stage}-`;
    runner.executionArnOf = (machine, name) => this.executionArn(machine, name);
  }

  executionArn(machine: string, name: string): string {
    return `${this.arns[machine].replace(':stateMachine:', ':execution:')}:${name}`;
  }

  /** Forgets an execution's history, as Step Functions does 90 days after it ended. */
  expire(machine: string, name: string): void {
    this.expired.add(`${machine}/${name}`);
  }

  private record(machine: string, name: string, executionArn: string): ExecutionRecord {
    const r = this.expired.has(`${machine}/${name}`) ? undefined : this.runner.find(machine, name);
    if (!r) throw new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${executionArn}'`, $metadata: {} });
    return r;
  }

  private history(machine: string, r: ExecutionRecord): HistoryEvent[] {
    const keys = new Map(allStates(loadDefinition(machine)).map(([name, state]) => [name, functionKeyOf(state.Resource)]));
    return toHistoryEvents(r, (state) => (keys.get(state) ? `${this.lambdaArnPrefix}${keys.get(state)}` : undefined));
  }

  private statusChange(machine: string, r: ExecutionRecord): ExecutionStatusChange {
    const executionArn = this.executionArn(machine, r.name);
    return {
      version: '0',
      id: `local-${machine}-${r.name}`,
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: this.opts.accountId,
      time: (r.stopDate ?? new Date()).toISOString(),
      region: this.opts.region,
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn: this.arns[machine],
        name: r.name,
        status: r.status,
        startDate: r.startDate.getTime(),
        stopDate: r.stopDate?.getTime() ?? null,
        input: JSON.stringify(r.input),
        output: r.output === undefined ? null : JSON.stringify(r.output),
        error: r.error ?? null,
        cause: r.cause ?? null,
      },
    };
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
      // A name whose execution expired is free again, as in Step Functions once it forgot the execution.
      if (this.expired.delete(`${machine}/${i.name}`)) this.runner.forget(machine, i.name);
      const existing = this.runner.find(machine, i.name);
      if (existing) {
        // Step Functions: the same name and input while running is the same execution; otherwise a conflict.
        if (existing.status === 'RUNNING' && JSON.stringify(existing.input) === JSON.stringify(input))
          return { executionArn, startDate: existing.startDate, ...meta };
        throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${executionArn}'`, ...meta });
      }
      const { record, done } = this.runner.start(machine, i.name, input);
      if (this.onExecutionEnd) {
        const deliver = this.onExecutionEnd;
        this.deliveries.push(
          done.then((r) => {
            const delivery = deliver(this.statusChange(machine, r));
            this.endedDeliveries.push(delivery);
            return delivery;
          }),
        );
      }
      return { executionArn, startDate: record.startDate, ...meta };
    });
    answerTasksOf(m, this.runner);
    m.on(DescribeExecutionCommand).callsFake(async (i: { executionArn: string }) => {
      const { machine, name } = this.parseExecutionArn(i.executionArn);
      const r = this.record(machine, name, i.executionArn);
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
    // Paginated like the service: nextToken is where the next page starts.
    const page = <T>(items: T[], maxResults: number | undefined, nextToken: string | undefined): { items: T[]; nextToken?: string } => {
      const from = nextToken === undefined ? 0 : Number(nextToken);
      if (!Number.isInteger(from) || from < 0 || from > items.length) throw new InvalidToken({ message: 'Invalid Token', $metadata: {} });
      const size = maxResults && maxResults > 0 ? maxResults : 100;
      return { items: items.slice(from, from + size), ...(from + size < items.length ? { nextToken: String(from + size) } : {}) };
    };
    m.on(GetExecutionHistoryCommand).callsFake(async (i: { executionArn: string; maxResults?: number; nextToken?: string; reverseOrder?: boolean }) => {
      const { machine, name } = this.parseExecutionArn(i.executionArn);
      const events = this.history(machine, this.record(machine, name, i.executionArn));
      const { items, nextToken } = page(i.reverseOrder ? events.reverse() : events, i.maxResults, i.nextToken);
      return { events: items, ...(nextToken ? { nextToken } : {}), ...meta };
    });
    m.on(ListExecutionsCommand).callsFake(async (i: { stateMachineArn: string; statusFilter?: string; maxResults?: number; nextToken?: string }) => {
      const machine = this.machineOf(i.stateMachineArn);
      const all = [...this.runner.executions.values()]
        .filter((r) => r.stateMachine === machine && !this.expired.has(`${machine}/${r.name}`) && (!i.statusFilter || r.status === i.statusFilter))
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
      const { items, nextToken } = page(all, i.maxResults, i.nextToken);
      return {
        executions: items.map((r) => ({
          executionArn: `${i.stateMachineArn.replace(':stateMachine:', ':execution:')}:${r.name}`,
          stateMachineArn: i.stateMachineArn,
          name: r.name,
          status: r.status,
          startDate: r.startDate,
          ...(r.stopDate ? { stopDate: r.stopDate } : {}),
        })),
        ...(nextToken ? { nextToken } : {}),
        ...meta,
      };
    });
    return m;
  }
}

export class SimulatedLambda {
  /** Asynchronous invocations (InvocationType Event) still running or done, for a test to wait on. */
  readonly queued: Array<Promise<unknown>> = [];

  constructor(private readonly functions: Record<string, LocalFunction>) {}

  install(): AwsClientStub<LambdaClient> {
    const m = mockClient(LambdaClient);
    m.on(InvokeCommand).callsFake(async (i: { FunctionName: string; Payload?: Uint8Array; InvocationType?: string }) => {
      const fn = this.functions[i.FunctionName];
      if (!fn) throw new ResourceNotFoundException({ message: `Function not found: ${i.FunctionName}`, Type: 'User', ...meta });
      const event = JSON.parse(new TextDecoder().decode(i.Payload ?? new Uint8Array())) as never;
      const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
      // An asynchronous invocation is queued: 202 at once, the handler runs after (its failure is Lambda's to retry).
      if (i.InvocationType === 'Event') {
        this.queued.push(fn.handler(event).catch((e: Error) => console.error(`${i.FunctionName} (asynchronous) failed: ${e.message}`)));
        return { StatusCode: 202, ...meta };
      }
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

/** People and groups of a simulated IAM Identity Center identity store (local mode, tests); `pageSize` pages its lists. */
export interface IdentityStoreData {
  users: Array<{ userId: string; userName: string; status?: 'ENABLED' | 'DISABLED'; groups: string[] }>;
  groups: Array<{ groupId: string; displayName: string }>;
}

export class SimulatedIdentityStore {
  /** `pageSize`: the most items a List* call returns per page (then NextToken), so callers' paging loops run. */
  constructor(
    public data: IdentityStoreData,
    private readonly options: { pageSize?: number } = {},
  ) {}

  private indexed?: { users: IdentityStoreData['users']; byId: Map<string, IdentityStoreData['users'][number]> };

  /** Users by id, rebuilt when a test replaces or grows the data. */
  private index(): Map<string, IdentityStoreData['users'][number]> {
    if (this.indexed?.users !== this.data.users || this.indexed.byId.size !== this.data.users.length) {
      this.indexed = { users: this.data.users, byId: new Map(this.data.users.map((u) => [u.userId, u])) };
    }
    return this.indexed.byId;
  }

  private page<T>(items: T[], input: { NextToken?: string; MaxResults?: number }): { items: T[]; NextToken?: string } {
    const max = Math.min(input.MaxResults ?? Infinity, this.options.pageSize ?? Infinity);
    const invalid = () => new ValidationException({ message: `Invalid NextToken ${input.NextToken}`, $metadata: {} });
    const { items: page, next } = pageOf(items, input.NextToken, max === Infinity ? items.length : max, invalid);
    return { items: page, ...(next ? { NextToken: next } : {}) };
  }

  install(): AwsClientStub<IdentitystoreClient> {
    const m = mockClient(IdentitystoreClient);
    const notFound = (what: string) => new IdentityStoreNotFound({ message: `${what} not found`, $metadata: {} });
    // Looked up by id through an index of the current data (a bench's store holds 10,000 people).
    const user = (id: string) => this.index().get(id);
    m.on(ListUsersCommand).callsFake(async (i: { IdentityStoreId: string; NextToken?: string; MaxResults?: number }) => {
      const { items, NextToken } = this.page(this.data.users, i);
      return {
        Users: items.map((u) => ({ IdentityStoreId: i.IdentityStoreId, UserId: u.userId, UserName: u.userName, UserStatus: u.status ?? 'ENABLED' })),
        ...(NextToken ? { NextToken } : {}),
        ...meta,
      };
    });
    m.on(DescribeUserCommand).callsFake(async (i: { IdentityStoreId: string; UserId: string }) => {
      const u = user(i.UserId);
      if (!u) throw notFound(`user ${i.UserId}`);
      return { IdentityStoreId: i.IdentityStoreId, UserId: u.userId, UserName: u.userName, UserStatus: u.status ?? 'ENABLED', ...meta };
    });
    m.on(ListGroupMembershipsForMemberCommand).callsFake(
      async (i: { IdentityStoreId: string; MemberId: { UserId: string }; NextToken?: string; MaxResults?: number }) => {
        const u = user(i.MemberId.UserId);
        if (!u) throw notFound(`user ${i.MemberId.UserId}`);
        const { items, NextToken } = this.page(u.groups, i);
        return {
          GroupMemberships: items.map((GroupId) => ({ IdentityStoreId: i.IdentityStoreId, GroupId, MemberId: { UserId: u.userId } })),
          ...(NextToken ? { NextToken } : {}),
          ...meta,
        };
      },
    );
    m.on(ListGroupMembershipsCommand).callsFake(async (i: { IdentityStoreId: string; GroupId: string; NextToken?: string; MaxResults?: number }) => {
      const { items, NextToken } = this.page(
        this.data.users.filter((u) => u.groups.includes(i.GroupId)),
        i,
      );
      return {
        GroupMemberships: items.map((u) => ({ IdentityStoreId: i.IdentityStoreId, GroupId: i.GroupId, MemberId: { UserId: u.userId } })),
        ...(NextToken ? { NextToken } : {}),
        ...meta,
      };
    });
    m.on(GetGroupIdCommand).callsFake(async (i: { IdentityStoreId: string; AlternateIdentifier: { UniqueAttribute?: { AttributeValue?: unknown } } }) => {
      const g = this.data.groups.find((x) => x.displayName === i.AlternateIdentifier.UniqueAttribute?.AttributeValue);
      if (!g) throw notFound(`group ${String(i.AlternateIdentifier.UniqueAttribute?.AttributeValue)}`);
      return { IdentityStoreId: i.IdentityStoreId, GroupId: g.groupId, ...meta };
    });
    m.on(DescribeGroupCommand).callsFake(async (i: { IdentityStoreId: string; GroupId: string }) => {
      const g = this.data.groups.find((x) => x.groupId === i.GroupId);
      if (!g) throw notFound(`group ${i.GroupId}`);
      return { IdentityStoreId: i.IdentityStoreId, GroupId: g.groupId, DisplayName: g.displayName, ...meta };
    });
    return m;
  }
}
