import './polyfills';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { taskTokenConsumer } from '../functions/lib/core/task-token';
import type { LocalFunction } from './functions';
import { SimulatedQueueTrigger } from './simulated-queue';

/**
 * Runs the real statemachines/*.asl.json with aws-local-stepfunctions, every Task state bound
 * to the function its own Resource names (`{"Fn::GetAtt": [functionKey, "Arn"]}`), so the
 * definition is exercised exactly as deployed. Functions that open database connections get
 * the same reserved-concurrency cap as in AWS: beyond it an invocation is throttled with
 * Lambda.TooManyRequestsException, which the state machine retries with backoff. A Task that sends
 * its input to a queue and waits for the task token (the database limiter) is answered by the
 * function that queue's event source mapping runs (dev/simulated-queue.ts).
 */
export type StateMachineDefinition = ConstructorParameters<typeof StateMachine>[0];
type Overrides = NonNullable<NonNullable<Parameters<StateMachine['run']>[1]>['overrides']>;
type TaskHandler = NonNullable<Overrides['taskResourceLocalHandlers']>[string];
type JsonValue = Parameters<TaskHandler>[0];
export type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
type AnyState = {
  Type: string;
  Resource?: unknown;
  Parameters?: unknown;
  Iterator?: StateMachineDefinition;
  ItemProcessor?: StateMachineDefinition;
  Branches?: StateMachineDefinition[];
};

export const STATEMACHINES_DIR = join(__dirname, '..', 'statemachines');

export const loadDefinition = (name: string): StateMachineDefinition =>
  JSON.parse(readFileSync(join(STATEMACHINES_DIR, `${name}.asl.json`), 'utf8')) as StateMachineDefinition;

/** The function key a Task's Resource points at, or undefined when it is not one of ours. */
export const functionKeyOf = (resource: unknown): string | undefined => {
  const getAtt = (resource as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  return Array.isArray(getAtt) && getAtt[1] === 'Arn' && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
};

/** The waitForTaskToken integration of the database limiter: the state's input waits in a queue. */
export const SQS_TASK_TOKEN = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';

/** The logical id of the queue a `sqs:sendMessage.waitForTaskToken` Task sends to (`QueueUrl: {Ref}`), else undefined. */
export const queueOf = (state: { Resource?: unknown; Parameters?: unknown }): string | undefined => {
  if (state.Resource !== SQS_TASK_TOKEN) return undefined;
  const ref = (state.Parameters as { QueueUrl?: { Ref?: unknown } } | undefined)?.QueueUrl?.Ref;
  return typeof ref === 'string' ? ref : undefined;
};

/** A Task that starts another state machine of the stack and waits for it (the optimised integration, JSON output). */
export const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';

/** The state machine (ASL file name) a startExecution Task starts: `StateMachineArn: {Ref: <Name>StateMachine}`. */
export const childMachineOf = (state: { Resource?: unknown; Parameters?: unknown }): string | undefined => {
  if (state.Resource !== START_EXECUTION_SYNC) return undefined;
  const ref = (state.Parameters as { StateMachineArn?: { Ref?: unknown } } | undefined)?.StateMachineArn?.Ref;
  const m = typeof ref === 'string' ? /^([A-Z][A-Za-z0-9]*)StateMachine$/.exec(ref) : null;
  return m ? m[1][0].toLowerCase() + m[1].slice(1) : undefined;
};

/** Every state of a definition, nested ones (Map, Parallel) included, by name. */
export const allStates = (def: StateMachineDefinition): Array<[string, AnyState]> =>
  Object.entries(def.States as Record<string, AnyState>).flatMap(([name, state]) => [
    [name, state] as [string, AnyState],
    ...[state.Iterator, state.ItemProcessor, ...(state.Branches ?? [])].filter((d): d is StateMachineDefinition => !!d).flatMap(allStates),
  ]);

export interface ExecutionRecord {
  name: string;
  stateMachine: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  input: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
  events: EventLog[];
  /** What each successful task invocation returned, in order (Step Functions' LambdaFunctionSucceeded output). */
  taskOutputs: Array<{ state: string; output: unknown }>;
}

export interface RunnerOptions {
  functions: Record<string, LocalFunction>;
  /** Reserved concurrency of the database functions (serverless.yml: dbConcurrency). */
  dbConcurrency: number;
  /** The IAM limiter's slots (iam.grantConcurrency; default 2). */
  grantConcurrency?: number;
  /** Milliseconds every Wait state takes instead of its Seconds (tests shorten, never remove them). */
  waitMs?: number;
  /** Milliseconds between retries instead of the definition's backoff. */
  retryMs?: number;
  /**
   * Without retryMs: the definition's own backoff (interval, rate, cap, full jitter) runs with its
   * intervals and cap multiplied by this, so retries against a throttled simulation behave as deployed, only faster.
   */
  retryScale?: number;
  /** The limiter's queues: visibility timeout and the consumer's function timeout (serverless.yml: 180 s and 30 s). */
  queue?: { visibilityTimeoutMs?: number; functionTimeoutMs?: number };
}

export interface RunnerStats {
  invocations: Record<string, number>;
  throttles: Record<string, number>;
  peakConcurrency: Record<string, number>;
}

const jsonClone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** What SendTaskFailure reports: the error name Retry and Catch match, and its cause. */
class TaskFailed extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

class LambdaThrottled extends Error {
  constructor(fn: string) {
    super(`Rate Exceeded. (function ${fn} is at its reserved concurrency)`);
    this.name = 'Lambda.TooManyRequestsException';
  }
}

/** The limiter's slots for `dbConcurrency`: Lambda's MaximumConcurrency of an SQS event source is 2 at least. */
export const queueConcurrency = (dbConcurrency: number): number => Math.max(2, dbConcurrency);

/** The slots of the queue that invokes `fn` (its event source mapping's MaximumConcurrency and its reserved concurrency). */
export const slotsOf = (fn: LocalFunction, c: { dbConcurrency: number; grantConcurrency?: number }): number =>
  queueConcurrency(fn.slots === 'grantConcurrency' ? (c.grantConcurrency ?? 2) : c.dbConcurrency);

/** Execution names are unique per state machine, as in Step Functions. */
const executionKey = (stateMachine: string, name: string): string => `${stateMachine}/${name}`;

export class LocalStepFunctions {
  readonly executions = new Map<string, ExecutionRecord>();
  readonly stats: RunnerStats = { invocations: {}, throttles: {}, peakConcurrency: {} };
  private readonly inflight: Record<string, number> = {};
  /** The limiter's queues by logical id, each drained by its function's event source mapping. */
  readonly queues = new Map<string, SimulatedQueueTrigger>();
  /** Task tokens whose state waits for SendTaskSuccess / SendTaskFailure. */
  private readonly waiting = new Map<string, { resolve: (output: unknown) => void; reject: (e: Error) => void }>();

  /**
   * `$$.Execution.Id` of an execution: its ARN, as in Step Functions (the database-user lease asks
   * DescribeExecution about its holder). The Step Functions simulation sets it to its own ARNs.
   */
  executionArnOf: (stateMachine: string, name: string) => string = (stateMachine, name) =>
    `arn:aws:states:eu-west-1:123456789012:execution:rds-iam-access-local-${stateMachine}:${name}`;

  constructor(private readonly options: RunnerOptions) {}

  /** Lambda's contract as the interpreter sees it: JSON in, JSON out, throttled at the cap. */
  private invoke(key: string, fn: LocalFunction | undefined = this.options.functions[key]): (input: unknown) => Promise<unknown> {
    if (!fn) throw new Error(`no function "${key}" in the stack`);
    return async (input) => {
      // A queue-triggered function's reserved concurrency is its event source mapping's MaximumConcurrency (>= 2).
      const cap = fn.queue ? slotsOf(fn, this.options) : fn.database ? this.options.dbConcurrency : Infinity;
      if ((this.inflight[key] ?? 0) >= cap) {
        this.stats.throttles[key] = (this.stats.throttles[key] ?? 0) + 1;
        throw new LambdaThrottled(key);
      }
      this.inflight[key] = (this.inflight[key] ?? 0) + 1;
      this.stats.peakConcurrency[key] = Math.max(this.stats.peakConcurrency[key] ?? 0, this.inflight[key]);
      this.stats.invocations[key] = (this.stats.invocations[key] ?? 0) + 1;
      try {
        return jsonClone(await fn.handler(jsonClone(input) as never));
      } finally {
        this.inflight[key]--;
      }
    };
  }

  /** The queue `queueId` and its event source mapping, created on first use. */
  private queue(queueId: string): SimulatedQueueTrigger {
    let queue = this.queues.get(queueId);
    if (!queue) {
      const entry = Object.entries(this.options.functions).find(([, f]) => f.queue === queueId);
      if (!entry) throw new Error(`no function of the stack is triggered by queue "${queueId}"`);
      const [key, fn] = entry;
      // The deployed consumer (taskTokenConsumer) around this runner's function (a test may wrap it), invoked
      // through Lambda's contract: counted, and throttled at its reserved concurrency.
      const consumer = taskTokenConsumer(fn.handler as (input: unknown) => Promise<unknown>);
      const invoke = this.invoke(key, { ...fn, handler: consumer as (input: never) => Promise<unknown> });
      queue = new SimulatedQueueTrigger((event) => invoke(event), {
        // ScalingConfig.MaximumConcurrency: 2 at least, as Lambda requires.
        maxConcurrency: slotsOf(fn, this.options),
        visibilityTimeoutMs: this.options.queue?.visibilityTimeoutMs ?? 180_000,
        functionTimeoutMs: this.options.queue?.functionTimeoutMs ?? 30_000,
      });
      this.queues.set(queueId, queue);
    }
    return queue;
  }

  /** Whether a state still waits for `token` (SendTaskHeartbeat succeeds only then). */
  isWaiting(token: string): boolean {
    return this.waiting.has(token);
  }

  /** SendTaskSuccess / SendTaskFailure: false when no state waits for the token (it timed out, or was answered). */
  answerTask(token: string, answer: { output: unknown } | { error: string; cause: string }): boolean {
    const waiter = this.waiting.get(token);
    if (!waiter) return false;
    this.waiting.delete(token);
    if ('output' in answer) waiter.resolve(answer.output);
    else waiter.reject(new TaskFailed(answer.error, answer.cause));
    return true;
  }

  private overrides(def: StateMachineDefinition, record: ExecutionRecord): Overrides {
    const taskResourceLocalHandlers: Record<string, TaskHandler> = {};
    const waitTimeOverrides: Record<string, number> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    for (const [name, state] of allStates(def)) {
      const queueId = state.Type === 'Task' ? queueOf(state) : undefined;
      if (queueId) {
        taskResourceLocalHandlers[name] = (async (input: { MessageBody: { input: unknown } }) => {
          // A token per attempt, as Step Functions issues: a late answer to an earlier attempt answers nothing.
          const taskToken = `${record.name}/${name}/${randomUUID()}`;
          const answered = new Promise<unknown>((resolve, reject) => this.waiting.set(taskToken, { resolve, reject }));
          this.queue(queueId).send(JSON.stringify({ ...input.MessageBody, taskToken }));
          const output = await answered;
          record.taskOutputs.push({ state: name, output });
          return output as JsonValue;
        }) as unknown as TaskHandler;
        if (this.options.retryMs !== undefined) retryIntervalOverrides[name] = this.options.retryMs;
      } else if (state.Type === 'Task' && childMachineOf(state)) {
        const child = childMachineOf(state) as string;
        taskResourceLocalHandlers[name] = (async (input: { Name: string; Input: unknown }) => {
          // Like Step Functions: a second start of the same name (a retry) waits for the execution already there.
          const { done } = this.start(child, input.Name, input.Input);
          const ended = await done;
          const described = { ExecutionArn: this.executionArnOf(child, input.Name), Name: input.Name, Status: ended.status };
          if (ended.status !== 'SUCCEEDED') {
            throw new TaskFailed('States.TaskFailed', JSON.stringify({ ...described, Error: ended.error, Cause: ended.cause }));
          }
          const output = { ...described, Output: ended.output };
          record.taskOutputs.push({ state: name, output });
          return output as JsonValue;
        }) as unknown as TaskHandler;
        if (this.options.retryMs !== undefined) retryIntervalOverrides[name] = this.options.retryMs;
      } else if (state.Type === 'Task') {
        const key = functionKeyOf(state.Resource);
        if (!key) throw new Error(`Task state ${name} does not name a function of the stack`);
        const invoke = this.invoke(key);
        taskResourceLocalHandlers[name] = (async (input: unknown) => {
          const output = await invoke(input);
          record.taskOutputs.push({ state: name, output });
          return output;
        }) as (input: JsonValue) => Promise<JsonValue>;
        if (this.options.retryMs !== undefined) retryIntervalOverrides[name] = this.options.retryMs;
      }
      if (state.Type === 'Wait' && this.options.waitMs !== undefined) waitTimeOverrides[name] = this.options.waitMs;
    }
    return { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides };
  }

  /**
   * Starts an execution named `name` (the request id). Like StartExecution, a name already
   * used returns the existing execution instead of starting another.
   */
  start(stateMachine: string, name: string, input: unknown): { record: ExecutionRecord; done: Promise<ExecutionRecord>; started: boolean } {
    const key = executionKey(stateMachine, name);
    const existing = this.executions.get(key);
    if (existing) return { record: existing, done: this.completion.get(key) as Promise<ExecutionRecord>, started: false };
    const def = this.definition(stateMachine);
    const record: ExecutionRecord = { name, stateMachine, status: 'RUNNING', input: jsonClone(input), startDate: new Date(), events: [], taskOutputs: [] };
    this.executions.set(key, record);
    // Validated once, when first loaded: validating again per start costs 0.2-1 s of CPU, which under a burst of
    // requests kept the API from answering for seconds.
    const machine = new StateMachine(this.scaledRetries(structuredClone(def)), { validationOptions: { noValidate: true } });
    const execution = machine.run(jsonClone(input) as JsonValue, {
      overrides: this.overrides(def, record),
      context: {
        Execution: { Id: this.executionArnOf(stateMachine, name), Name: name, Input: jsonClone(input) as JsonValue, StartTime: record.startDate.toISOString() },
        // The limiter's Task replaces it with a token of its own per attempt.
        Task: { Token: 'issued-per-attempt' },
      },
    });
    const collect = (async () => {
      for await (const event of execution.eventLogs) record.events.push(event);
    })();
    const done = execution.result
      .then((output) => {
        record.status = 'SUCCEEDED';
        record.output = output;
      })
      .catch((e: Error) => {
        record.status = e.name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : e.name === 'ExecutionAbortedError' ? 'ABORTED' : 'FAILED';
        record.error = e.name;
        record.cause = e.message;
      })
      .then(() => collect)
      .then(() => {
        record.stopDate = new Date();
        // The error and cause of a Fail state are in the ExecutionFailed event, complete once the log is drained.
        const failed = record.events.find((ev) => ev.type === 'ExecutionFailed') as { Error?: string; Cause?: unknown } | undefined;
        if (failed?.Error) record.error = failed.Error;
        if (typeof failed?.Cause === 'string') record.cause = failed.Cause;
        return record;
      });
    this.completion.set(key, done);
    return { record, done, started: true };
  }

  private readonly completion = new Map<string, Promise<ExecutionRecord>>();

  private scaledRetries(def: StateMachineDefinition): StateMachineDefinition {
    const scale = this.options.retryScale;
    if (scale === undefined || this.options.retryMs !== undefined) return def;
    for (const [, state] of allStates(def)) {
      for (const r of (state as { Retry?: Array<{ IntervalSeconds?: number; MaxDelaySeconds?: number }> }).Retry ?? []) {
        r.IntervalSeconds = (r.IntervalSeconds ?? 1) * scale;
        if (r.MaxDelaySeconds !== undefined) r.MaxDelaySeconds *= scale;
      }
    }
    return def;
  }

  private readonly definitions = new Map<string, StateMachineDefinition>();

  /** The definition of statemachines/NAME.asl.json, read and validated (as Step Functions does at deploy) once. */
  private definition(stateMachine: string): StateMachineDefinition {
    let def = this.definitions.get(stateMachine);
    if (!def) {
      def = loadDefinition(stateMachine);
      // The validator changes what it is given: it gets a copy.
      new StateMachine(structuredClone(def), { validationOptions: { checkArn: false } });
      this.definitions.set(stateMachine, def);
    }
    return def;
  }

  /** An execution that ended in an earlier local-mode process (interrupted-runs.ts): known again as it ended. */
  restore(record: ExecutionRecord): void {
    if (record.status === 'RUNNING') throw new Error(`execution ${record.name} cannot be restored as RUNNING: nothing would run it`);
    const key = executionKey(record.stateMachine, record.name);
    if (this.executions.has(key)) return;
    this.executions.set(key, record);
    this.completion.set(key, Promise.resolve(record));
  }

  find(stateMachine: string, name: string): ExecutionRecord | undefined {
    return this.executions.get(executionKey(stateMachine, name));
  }

  /** Drops an ended execution, as Step Functions does 90 days after it ended: its name may then start a new one. */
  forget(stateMachine: string, name: string): void {
    const key = executionKey(stateMachine, name);
    if (this.executions.get(key)?.status === 'RUNNING') throw new Error(`execution ${key} is running; only an ended execution expires`);
    this.executions.delete(key);
    this.completion.delete(key);
  }

  /** Resolves when every execution started so far has ended. */
  async idle(): Promise<void> {
    await Promise.all(this.completion.values());
  }

  /** Runs an execution to its end. */
  async run(stateMachine: string, name: string, input: unknown): Promise<ExecutionRecord> {
    return this.start(stateMachine, name, input).done;
  }
}

/** The names of the states an execution entered, in order (its path through the workflow). */
export const statePath = (record: ExecutionRecord): string[] =>
  record.events.filter((e) => e.type === 'StateEntered').map((e) => (e as { state: { name: string } }).state.name);
