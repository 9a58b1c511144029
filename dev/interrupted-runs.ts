import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attemptOf } from '../functions/lib/api/attempts';
import { type ExecutionRecord, type LocalStepFunctions, statePath } from './asl-runner';

/**
 * Executions still RUNNING when local mode stops. Local mode keeps executions in memory, so without this a run
 * interrupted by Ctrl-C would be unknown after the next start, and `POST /requests/{id}/retry` (the way to finish
 * it: every step is idempotent) would answer 404. So at stop each such request's executions are written, as
 * ABORTED (what Step Functions reports for a stopped execution), to a file in the archive folder; the next start
 * knows them again, prints them with the retry to send, and the retry finishes them. A request stays in the file
 * until an attempt newer than the interrupted one runs.
 */
export const INTERRUPTED_FILE = 'interrupted-executions.json';
const SCHEMA = 'rds-iam-access/local-interrupted/v1';
/** The error of an execution that local mode's stop interrupted (Step Functions' ABORTED has none of its own). */
export const INTERRUPTED_ERROR = 'LocalModeStopped';

export interface InterruptedRun {
  requestId: string;
  /** The execution (attempt) that was running. */
  execution: string;
  workflow: 'onboarding' | 'offboarding';
  /** The last state it entered. */
  stateReached: string;
  /** Who sent the request: who may retry it (or an administrator). */
  requestedBy?: string;
  interruptedAt: string;
}

type SavedRecord = Omit<ExecutionRecord, 'startDate' | 'stopDate'> & { startDate: string; stopDate?: string };
interface Saved {
  schema: typeof SCHEMA;
  runs: InterruptedRun[];
  executions: SavedRecord[];
}

export const interruptedFileOf = (archiveDir: string): string => join(archiveDir, INTERRUPTED_FILE);

const workflowOf = (stateMachine: string): InterruptedRun['workflow'] => (stateMachine === 'offboard' ? 'offboarding' : 'onboarding');
const requestOf = (r: ExecutionRecord) => attemptOf(r.name, (r.input ?? {}) as Record<string, unknown>);

/**
 * What to keep at stop: for each request whose latest attempt is RUNNING now, or is an interrupted one restored at
 * start and not retried since, all its attempts (a retry reads them all), the running one marked ABORTED.
 */
export const collectInterrupted = (runner: LocalStepFunctions, now: Date = new Date()): { runs: InterruptedRun[]; records: ExecutionRecord[] } => {
  const byRequest = new Map<string, Array<{ attempt: number; record: ExecutionRecord }>>();
  for (const record of runner.executions.values()) {
    const { requestId, attempt } = requestOf(record);
    const key = `${record.stateMachine}/${requestId}`;
    byRequest.set(key, [...(byRequest.get(key) ?? []), { attempt, record }]);
  }
  const runs: InterruptedRun[] = [];
  const records: ExecutionRecord[] = [];
  for (const attempts of byRequest.values()) {
    attempts.sort((a, b) => a.attempt - b.attempt);
    const latest = attempts[attempts.length - 1].record;
    const interruptedBefore = latest.status === 'ABORTED' && latest.error === INTERRUPTED_ERROR;
    if (latest.status !== 'RUNNING' && !interruptedBefore) continue;
    const stateReached = statePath(latest).at(-1) ?? '(none yet)';
    const input = (latest.input ?? {}) as { requestedBy?: unknown };
    const stoppedAt = interruptedBefore && latest.stopDate ? latest.stopDate : now;
    runs.push({
      requestId: requestOf(latest).requestId,
      execution: latest.name,
      workflow: workflowOf(latest.stateMachine),
      stateReached,
      ...(typeof input.requestedBy === 'string' ? { requestedBy: input.requestedBy } : {}),
      interruptedAt: stoppedAt.toISOString(),
    });
    for (const { record } of attempts) {
      if (record.status !== 'RUNNING') {
        records.push(record);
        continue;
      }
      // A snapshot: the interpreter may go on until the process ends, and must not change what is saved.
      records.push({
        ...structuredClone(record),
        status: 'ABORTED',
        error: INTERRUPTED_ERROR,
        cause: `local mode stopped while this execution was in state ${stateReached}`,
        stopDate: now,
        events: [...structuredClone(record.events), { type: 'ExecutionAborted', timestamp: now.getTime() }],
      });
    }
  }
  return { runs, records };
};

/** Writes the file (or removes it when nothing was interrupted). */
export const saveInterrupted = (archiveDir: string, found: { runs: InterruptedRun[]; records: ExecutionRecord[] }): void => {
  const file = interruptedFileOf(archiveDir);
  if (!found.runs.length) {
    rmSync(file, { force: true });
    return;
  }
  mkdirSync(archiveDir, { recursive: true });
  const executions: SavedRecord[] = found.records.map(({ startDate, stopDate, ...r }) => ({
    ...r,
    startDate: startDate.toISOString(),
    ...(stopDate ? { stopDate: stopDate.toISOString() } : {}),
  }));
  const saved: Saved = { schema: SCHEMA, runs: found.runs, executions };
  writeFileSync(`${file}.tmp`, JSON.stringify(saved));
  // Renamed into place: a stop cut short leaves the previous file, never half of one.
  renameSync(`${file}.tmp`, file);
};

/** Reads the file of the last stop and makes its executions known to `runner` again; the runs it lists. */
export const restoreInterrupted = (archiveDir: string, runner: LocalStepFunctions): InterruptedRun[] => {
  const file = interruptedFileOf(archiveDir);
  if (!existsSync(file)) return [];
  let saved: Saved;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as Saved;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message}); it lists the runs the last stop interrupted: remove it to start without them`);
  }
  if (saved?.schema !== SCHEMA || !Array.isArray(saved.runs) || !Array.isArray(saved.executions)) {
    throw new Error(
      `${file}: expected {"schema": "${SCHEMA}", "runs": [...], "executions": [...]}; ` +
        `it lists the runs the last stop interrupted: remove it to start without them`,
    );
  }
  for (const { startDate, stopDate, ...r } of saved.executions)
    runner.restore({ ...r, startDate: new Date(startDate), ...(stopDate ? { stopDate: new Date(stopDate) } : {}) });
  return saved.runs;
};

/** The lines local mode prints: each run, and how to finish it. */
export const describeInterrupted = (
  runs: InterruptedRun[],
  when: { stopping: true; notKept?: string } | { apiUrl: string; callerHeader: string },
): string[] => {
  if (!runs.length) return [];
  if ('stopping' in when && when.notKept) {
    // Not saved, so the next start will not know them: the request itself, sent again, is what is left.
    return [
      `Interrupted: ${runs.length} execution(s) still RUNNING; they could not be kept ` +
        `in ${INTERRUPTED_FILE} (${when.notKept}): after the next npm start, ` +
        `send each request again under a new requestId (every step is idempotent):`,
      ...runs.map((r) => `  ${r.requestId} (${r.workflow}, execution ${r.execution}, reached ${r.stateReached}, ${r.interruptedAt})`),
    ];
  }
  const stopping = 'stopping' in when;
  const head = stopping
    ? `Interrupted: ${runs.length} execution(s) still RUNNING, kept in ${INTERRUPTED_FILE} in the archive ` +
      `folder (marked ABORTED); after the next npm start (same LOCAL_ARCHIVE_DIR), ` +
      `retry each to finish it (every step is idempotent):`
    : `Interrupted when local mode last stopped (ABORTED; every step is idempotent, a retry finishes each):`;
  const lines = runs.map((r) => {
    const what = `  ${r.requestId} (${r.workflow}, execution ${r.execution}, reached ${r.stateReached}, ${r.interruptedAt})`;
    const route = `POST /requests/${encodeURIComponent(r.requestId)}/retry`;
    if ('stopping' in when) return `${what}: ${route}${r.requestedBy ? ` as ${r.requestedBy}` : ''}`;
    const caller = r.requestedBy ? ` -H '${when.callerHeader}: ${r.requestedBy}'` : '';
    return `${what}: curl -X POST ${when.apiUrl}/requests/${encodeURIComponent(r.requestId)}/retry${caller}`;
  });
  return [head, ...lines];
};
