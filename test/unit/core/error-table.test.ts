import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { BACKOFF, type Backoff, backoffOf, ERROR_CODES, type ErrorCode, isErrorCode, RETRYABLE_CODES } from '../../../functions/lib/core/errors';
import { allStates, childMachineOf, functionKeyOf, queueOf } from '../../../dev/asl-runner';
import { FUNCTIONS } from '../../../dev/functions';
import { DEFAULT_TRANSIENT_RETRY, FUNCTIONS as SPECS } from '../../../config/functions';

/**
 * The state machines' Retry and Catch blocks against the one error table (functions/lib/core/errors.ts): every name they
 * match exists, only retried codes are retried, and every Task retries each retried code its function can raise.
 * "Can raise" is read from the source: the retried codes named anywhere in the project's files the handler's bundle
 * keeps (an over-approximation: a code a function could raise is never missed).
 */
const ROOT = resolve(__dirname, '../../..');
const MACHINES = readdirSync(join(ROOT, 'statemachines')).filter((f) => f.endsWith('.asl.json'));
/** Errors Step Functions and the service integrations raise themselves, not this project's code. */
const AWS_ERROR = /^(States|Lambda|SQS|StepFunctions)\.[A-Za-z]+$/;

interface TaskState {
  Type: string;
  Resource?: unknown;
  Parameters?: unknown;
  Retry?: Array<{ ErrorEquals: string[] } & Record<string, unknown>>;
  Catch?: Array<{ ErrorEquals: string[] }>;
}

const allTasks = (file: string): Array<[string, TaskState]> => {
  const def = JSON.parse(readFileSync(join(ROOT, 'statemachines', file), 'utf8')) as StateMachineDefinition;
  return (allStates(def) as Array<[string, TaskState]>).filter(([, s]) => s.Type === 'Task');
};
/** The Tasks that run a function of the stack (a child execution's Task raises Step Functions' errors, not ours). */
const tasks = (file: string): Array<[string, TaskState]> => allTasks(file).filter(([, s]) => !childMachineOf(s));

/** The stack's function a Task runs: the Lambda it names, or the consumer of the queue it sends to. */
const functionOf = (state: TaskState): string | undefined => {
  const queue = queueOf(state);
  if (queue) return Object.entries(FUNCTIONS).find(([, f]) => f.queue === queue)?.[0];
  return functionKeyOf(state.Resource);
};

/** The handler file of each function key (config/functions.ts, the modules serverless.yml and dev/functions.ts name). */
const HANDLER_FILES = new Map(Object.entries(SPECS).map(([key, f]) => [key, join(ROOT, `${f.file}.ts`)]));

/**
 * The project's files each handler's bundle keeps, as esbuild bundles it for Lambda: what the function can run. A file
 * imported only for a part the function never uses (a provider's directory, when the function validates the
 * configuration) is dropped from the bundle and so cannot raise anything there.
 */
const BUNDLED = ((): Map<string, string[]> => {
  const entries = [...HANDLER_FILES.values()];
  const { metafile } = buildSync({
    entryPoints: entries,
    bundle: true,
    write: false,
    metafile: true,
    outdir: join(ROOT, '.tmp', 'error-table'),
    platform: 'node',
    target: 'node22',
    mainFields: ['module', 'main'],
    external: ['pg-native'],
    // As serverless.yml custom.esbuild: the SQL files are bundled as their text.
    loader: { '.sql': 'text' },
    logLevel: 'silent',
  });
  const byEntry = new Map<string, string[]>();
  for (const output of Object.values(metafile.outputs)) {
    if (!output.entryPoint) continue;
    const kept = Object.entries(output.inputs)
      .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && !input.includes('node_modules'))
      .map(([input]) => resolve(ROOT, input));
    byEntry.set(resolve(ROOT, output.entryPoint), kept);
  }
  return byEntry;
})();

/** Retried codes named in the project's files the handler's bundle keeps. */
const retriedCodesReachable = (handler: string): Set<ErrorCode> => {
  const files = BUNDLED.get(handler);
  if (!files?.length) throw new Error(`no bundle for ${handler}`);
  const found = new Set<ErrorCode>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const code of RETRYABLE_CODES) if (new RegExp(`'${code}'`).test(text)) found.add(code);
  }
  return found;
};

describe('the error table and the state machines', () => {
  it('every code is described once, with a status and a retry decision', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(RETRYABLE_CODES.length).toBeGreaterThan(0);
  });

  it('every name a Retry or Catch matches is an error code or an AWS error', () => {
    const unknown: string[] = [];
    for (const file of MACHINES) {
      for (const [name, state] of tasks(file)) {
        for (const r of [...(state.Retry ?? []), ...(state.Catch ?? [])]) {
          for (const e of r.ErrorEquals) if (!isErrorCode(e) && !AWS_ERROR.test(e)) unknown.push(`${file} ${name}: ${e}`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });

  it('a Retry names only codes the table says are retried', () => {
    const wrong: string[] = [];
    for (const file of MACHINES) {
      for (const [name, state] of tasks(file)) {
        for (const e of (state.Retry ?? []).flatMap((r) => r.ErrorEquals)) {
          if (isErrorCode(e) && !RETRYABLE_CODES.includes(e)) wrong.push(`${file} ${name}: ${e}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('every Task retries each retried code its function can raise, and catches everything else', () => {
    const missing: string[] = [];
    for (const file of MACHINES) {
      for (const [name, state] of tasks(file)) {
        const key = functionOf(state);
        expect(key, `${file} ${name}: runs a function of the stack`).toBeDefined();
        const handler = HANDLER_FILES.get(key as string);
        expect(handler, `${file} ${name}: handler file of ${key}`).toBeDefined();
        const retried = new Set((state.Retry ?? []).flatMap((r) => r.ErrorEquals));
        for (const code of retriedCodesReachable(handler as string)) if (!retried.has(code)) missing.push(`${file} ${name} (${key}): ${code}`);
        expect(
          (state.Catch ?? []).some((c) => c.ErrorEquals.includes('States.ALL')),
          `${file} ${name}: a Catch of States.ALL`,
        ).toBe(true);
      }
    }
    expect(missing).toEqual([]);
  });

  it("every Task's Retry is the one derived from the error table, its function's retry and the codes it can raise", () => {
    // The integration's own failures first (a throttled or failed invocation, a failed send to the limiter's queue).
    const service = (state: TaskState) => ({
      ErrorEquals: queueOf(state)
        ? ['SQS.SdkClientException', 'SQS.AmazonSQSException']
        : ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
      IntervalSeconds: 1,
      MaxAttempts: 20,
      BackoffRate: 2,
      MaxDelaySeconds: 20,
    });
    // Then one retrier per backoff, in this order, with the codes of that backoff the function can raise.
    const ORDER: Backoff[] = ['lease', 'lock', 'transient'];
    const wrong: string[] = [];
    let compared = 0;
    for (const file of MACHINES) {
      for (const [name, state] of tasks(file)) {
        const key = functionOf(state) as string;
        const codes = [...retriedCodesReachable(HANDLER_FILES.get(key) as string)];
        const timing = (b: Backoff) => (b === 'transient' ? { ...(SPECS[key].retry ?? DEFAULT_TRANSIENT_RETRY), ...BACKOFF.transient } : BACKOFF[b]);
        const expected = [
          service(state),
          ...ORDER.flatMap((b) => {
            const of = codes.filter((c) => backoffOf(c) === b).sort();
            return of.length ? [{ ErrorEquals: of, ...timing(b) }] : [];
          }),
        ].map((r) => ({ ...r, JitterStrategy: 'FULL' }));
        // The order of names within one retrier, and of a retrier's fields, mean nothing to Step Functions.
        const canonical = (rs: Array<Record<string, unknown>>): string =>
          JSON.stringify(rs.map((r) => Object.fromEntries(Object.entries({ ...r, ErrorEquals: [...(r.ErrorEquals as string[])].sort() }).sort())));
        const [written, derived] = [canonical(state.Retry ?? []), canonical(expected)];
        if (written !== derived) wrong.push(`${file} ${name} (${key}):\n  written  ${written}\n  derived  ${derived}`);
        compared++;
      }
    }
    expect(wrong, wrong.join('\n')).toEqual([]);
    expect(compared).toBeGreaterThan(10);
  });

  it('every retried code has a backoff, and no other code has one', () => {
    for (const code of ERROR_CODES) expect(backoffOf(code) !== undefined, code).toBe(RETRYABLE_CODES.includes(code));
  });

  it('the reachability scan finds what it should (a control: a function that raises TransientDatabaseError)', () => {
    const handler = HANDLER_FILES.get('dbUserCreate') as string;
    expect([...retriedCodesReachable(handler)]).toEqual(expect.arrayContaining(['TransientDatabaseError', 'DbUserBusy']));
  });
});
