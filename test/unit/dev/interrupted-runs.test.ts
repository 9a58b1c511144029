/**
 * What a stop keeps of the runs it interrupts (dev/interrupted-runs.ts), and what the next start restores:
 * every attempt of a request whose latest attempt is RUNNING (a retry reads them all), the running one as ABORTED;
 * an interrupted run restored earlier until a newer attempt has run; nothing else.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ExecutionRecord, LocalStepFunctions } from '../../../dev/asl-runner';
import { FUNCTIONS } from '../../../dev/functions';
import {
  collectInterrupted,
  describeInterrupted,
  INTERRUPTED_ERROR,
  interruptedFileOf,
  restoreInterrupted,
  saveInterrupted,
} from '../../../dev/interrupted-runs';

const dir = mkdtempSync(join(tmpdir(), 'interrupted-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runner = () => new LocalStepFunctions({ functions: FUNCTIONS, dbConcurrency: 1 });
const entered = (name: string, at: number) =>
  ({ type: 'StateEntered', timestamp: at, state: { name, type: 'Task', input: {} } }) as unknown as ExecutionRecord['events'][number];
const record = (
  name: string,
  requestId: string,
  attempt: number,
  status: ExecutionRecord['status'],
  extra: Partial<ExecutionRecord> = {},
): ExecutionRecord => ({
  name,
  stateMachine: 'onboard',
  status,
  input: { requestId, ...(attempt > 1 ? { attempt } : {}), requestedBy: 'arn:aws:sts::123456789012:assumed-role/alice/laptop' },
  startDate: new Date('2026-12-01T10:00:00Z'),
  events: [entered('ValidateRequest', 1), entered('CreateDbUser', 2)],
  taskOutputs: [],
  ...extra,
});

describe('collectInterrupted, saveInterrupted, restoreInterrupted', () => {
  it('keeps the requests whose latest attempt runs or was interrupted before, with all their attempts, and restores them as ABORTED', () => {
    const r = runner();
    const add = (x: ExecutionRecord) => r.executions.set(`${x.stateMachine}/${x.name}`, x);
    add(record('A', 'A', 1, 'FAILED', { stopDate: new Date('2026-12-01T10:01:00Z') }));
    add(record('A.2', 'A', 2, 'RUNNING'));
    add(record('B', 'B', 1, 'SUCCEEDED', { stopDate: new Date() }));
    add(record('C', 'C', 1, 'ABORTED', { error: INTERRUPTED_ERROR, stopDate: new Date('2026-12-01T09:00:00Z') }));
    add(record('D', 'D', 1, 'ABORTED', { error: INTERRUPTED_ERROR, stopDate: new Date('2026-12-01T09:00:00Z') }));
    add(record('D.2', 'D', 2, 'SUCCEEDED', { stopDate: new Date() }));
    const now = new Date('2026-12-01T11:00:00Z');
    const found = collectInterrupted(r, now);
    expect(found.runs).toEqual([
      {
        requestId: 'A',
        execution: 'A.2',
        workflow: 'onboarding',
        stateReached: 'CreateDbUser',
        requestedBy: 'arn:aws:sts::123456789012:assumed-role/alice/laptop',
        interruptedAt: now.toISOString(),
      },
      {
        requestId: 'C',
        execution: 'C',
        workflow: 'onboarding',
        stateReached: 'CreateDbUser',
        requestedBy: 'arn:aws:sts::123456789012:assumed-role/alice/laptop',
        interruptedAt: '2026-12-01T09:00:00.000Z',
      },
    ]);
    expect(found.records.map((x) => [x.name, x.status])).toEqual([
      ['A', 'FAILED'],
      ['A.2', 'ABORTED'],
      ['C', 'ABORTED'],
    ]);
    // The running record itself is left as it is: the interpreter owns it until the process ends.
    expect(r.find('onboard', 'A.2')?.status).toBe('RUNNING');

    const archive = join(dir, 'archive-1');
    saveInterrupted(archive, found);
    const next = runner();
    expect(restoreInterrupted(archive, next)).toEqual(found.runs);
    const restored = next.find('onboard', 'A.2') as ExecutionRecord;
    expect(restored).toMatchObject({
      status: 'ABORTED',
      error: INTERRUPTED_ERROR,
      cause: 'local mode stopped while this execution was in state CreateDbUser',
      stopDate: now,
    });
    expect(restored.startDate).toEqual(new Date('2026-12-01T10:00:00Z'));
    expect(restored.events.at(-1)).toEqual({ type: 'ExecutionAborted', timestamp: now.getTime() });
    expect(next.find('onboard', 'A')?.status).toBe('FAILED');
    expect(next.find('onboard', 'B')).toBeUndefined();
  });

  it('removes the file when nothing was interrupted', () => {
    const archive = join(dir, 'archive-2');
    saveInterrupted(archive, {
      runs: [{ requestId: 'X', execution: 'X', workflow: 'offboarding', stateReached: 'BlockLogin', interruptedAt: new Date().toISOString() }],
      records: [],
    });
    expect(restoreInterrupted(archive, runner())).toHaveLength(1);
    saveInterrupted(archive, collectInterrupted(runner()));
    expect(restoreInterrupted(archive, runner())).toEqual([]);
  });

  it.each([
    ['not JSON', '{', /interrupted-executions\.json: not JSON \(.*\); it lists the runs the last stop interrupted: remove it to start without them$/],
    [
      'another shape',
      '{"runs": 1}',
      /interrupted-executions\.json: expected \{"schema": "rds-iam-access\/local-interrupted\/v1", "runs": \[\.\.\.\], "executions": \[\.\.\.\]\}; .*remove it/,
    ],
  ])('refuses a file that is %s, naming it and what to do', (_, content, message) => {
    const archive = mkdtempSync(join(dir, 'bad-'));
    writeFileSync(interruptedFileOf(archive), content);
    expect(() => restoreInterrupted(archive, runner())).toThrow(message);
  });

  it('a RUNNING record cannot be restored: nothing would run it', () => {
    expect(() => runner().restore(record('E', 'E', 1, 'RUNNING'))).toThrow('execution E cannot be restored as RUNNING: nothing would run it');
  });

  describe('describeInterrupted', () => {
    const run = {
      requestId: 'R-1',
      execution: 'R-1.2',
      workflow: 'offboarding' as const,
      stateReached: 'BlockLogin',
      requestedBy: 'arn:aws:sts::123456789012:assumed-role/ops/me',
      interruptedAt: '2026-12-01T11:00:00.000Z',
    };

    it('at stop: each run and the retry to send after the next start', () => {
      expect(describeInterrupted([run], { stopping: true })).toEqual([
        'Interrupted: 1 execution(s) still RUNNING, kept in interrupted-executions.json in the archive ' +
          'folder (marked ABORTED); after the next npm start (same LOCAL_ARCHIVE_DIR), ' +
          'retry each to finish it (every step is idempotent):',
        '  R-1 (offboarding, execution R-1.2, reached BlockLogin, 2026-12-01T11:00:00.000Z): ' +
          'POST /requests/R-1/retry as arn:aws:sts::123456789012:assumed-role/ops/me',
      ]);
    });

    it('at stop, when the file could not be written: says why, and that the request must be sent again (a retry would not find it)', () => {
      const lines = describeInterrupted([run], { stopping: true, notKept: 'EACCES: permission denied' });
      expect(lines[0]).toBe(
        'Interrupted: 1 execution(s) still RUNNING; they could not be kept in interrupted-executions.json ' +
          '(EACCES: permission denied): after the next npm start, send each request again under a new ' +
          'requestId (every step is idempotent):',
      );
      expect(lines.join('\n')).not.toContain('/retry');
    });

    it('at start: the curl that retries each, as the sender', () => {
      expect(describeInterrupted([run], { apiUrl: 'http://127.0.0.1:3000', callerHeader: 'x-caller-arn' })[1]).toBe(
        '  R-1 (offboarding, execution R-1.2, reached BlockLogin, 2026-12-01T11:00:00.000Z): ' +
          "curl -X POST http://127.0.0.1:3000/requests/R-1/retry -H 'x-caller-arn: " +
          "arn:aws:sts::123456789012:assumed-role/ops/me'",
      );
    });

    it('nothing interrupted: nothing printed', () => {
      expect(describeInterrupted([], { stopping: true })).toEqual([]);
    });
  });
});
