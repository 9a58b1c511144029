import { attemptOf } from '../api/attempts';
import { causeMessage, parseJson } from '../core/executions';
import type { ArchivedEvent, AuditSummary, ExecutionArchive } from './archive';

/**
 * An execution told for an auditor: who asked, for what, and every step in order with its time,
 * a summary of its input, what it returned (the changes it made) and its error. Built from the
 * execution document alone, so Step Functions and the archive give the same record.
 */
export interface AuditStep {
  /** The attempt of the request the step ran in. */
  attempt: number;
  name: string;
  type: string;
  enteredAt: string;
  exitedAt?: string;
  /** Task states: invocations, retries included. */
  attempts?: number;
  /** The step's input, shortened: the full document is in the archive. */
  inputSummary?: string;
  /** Task states: what the function returned (statements run, policies changed, ...). */
  result?: unknown;
  /** The error the step ended with (caught or not). */
  error?: { code: string; message: string };
  /** Errors of attempts that were retried. */
  retriedErrors?: Array<{ code: string; message: string }>;
}

/** One run of the request, as the record lists them. */
export type AuditAttempt = Pick<AuditSummary, 'attempt' | 'status' | 'startedAt' | 'stoppedAt' | 'retriedBy' | 'error'>;

/**
 * A request told for an auditor: its latest attempt's summary and output, every attempt, and the steps of all of
 * them in order, each naming its attempt. `source` is where the latest attempt was read.
 */
export interface AuditRecord extends AuditSummary {
  output?: unknown;
  attempts: AuditAttempt[];
  steps: AuditStep[];
  source: 'stepfunctions' | 'archive';
  /** GET /audit/{requestId}: earlier runs of the same request id (its execution forgotten and the id sent again), oldest first. */
  earlierRuns?: AuditRecord[];
}

const SUMMARY_CHARS = 500;
const summary = (s: string | undefined): string | undefined =>
  s === undefined ? undefined : s.length > SUMMARY_CHARS ? `${s.slice(0, SUMMARY_CHARS)}… (${s.length} characters)` : s;

const parse = parseJson;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const stepsOf = (events: ArchivedEvent[], attempt: number): AuditStep[] => {
  const steps: AuditStep[] = [];
  let current: AuditStep | undefined;
  for (const e of events) {
    const type = e.type ?? '';
    if (type.endsWith('StateEntered')) {
      current = {
        attempt,
        name: e.stateEnteredEventDetails?.name ?? '?',
        type: type.replace(/StateEntered$/, ''),
        enteredAt: e.timestamp,
        inputSummary: summary(e.stateEnteredEventDetails?.input),
      };
      steps.push(current);
    } else if (!current) {
    } else if (type === 'LambdaFunctionScheduled' || type === 'TaskScheduled') {
      // A new attempt: the previous attempt's error (if any) was retried.
      if (current.error) (current.retriedErrors ??= []).push(current.error);
      current.error = undefined;
      current.attempts = (current.attempts ?? 0) + 1;
    } else if (type === 'LambdaFunctionSucceeded') {
      current.result = parse(e.lambdaFunctionSucceededEventDetails?.output);
    } else if (type === 'LambdaFunctionFailed') {
      current.error = { code: e.lambdaFunctionFailedEventDetails?.error ?? 'Unknown', message: causeMessage(e.lambdaFunctionFailedEventDetails?.cause) };
    } else if (type === 'LambdaFunctionTimedOut') {
      current.error = {
        code: e.lambdaFunctionTimedOutEventDetails?.error ?? 'States.Timeout',
        message: causeMessage(e.lambdaFunctionTimedOutEventDetails?.cause),
      };
    } else if (type === 'LambdaFunctionScheduleFailed' || type === 'LambdaFunctionStartFailed') {
      const d = e.lambdaFunctionScheduleFailedEventDetails ?? e.lambdaFunctionStartFailedEventDetails;
      current.error = { code: d?.error ?? 'Unknown', message: causeMessage(d?.cause) };
    } else if (type === 'ExecutionFailed' && current.type === 'Fail') {
      current.error = { code: e.executionFailedEventDetails?.error ?? 'Unknown', message: causeMessage(e.executionFailedEventDetails?.cause) };
    } else if (type.endsWith('StateExited')) {
      current.exitedAt = e.timestamp;
    }
  }
  return steps;
};

/** The principals an offboarding removed grants from (its output's policyChanges). */
const revokedFrom = (output: unknown): string[] => {
  const changes = (output as { policyChanges?: Array<{ principalArn?: unknown; outcome?: unknown }> } | undefined)?.policyChanges;
  return Array.isArray(changes)
    ? changes.filter((c) => c.outcome === 'removed' && typeof c.principalArn === 'string').map((c) => c.principalArn as string)
    : [];
};

/** Who asked, why, and for what: the fields of an execution input an audit shows and filters on. */
export const requestFieldsOf = (
  input: Record<string, unknown>,
): Pick<AuditSummary, 'requestedBy' | 'retriedBy' | 'reason' | 'target' | 'dbUser' | 'principalArn'> =>
  Object.fromEntries(
    (['requestedBy', 'retriedBy', 'reason', 'target', 'dbUser', 'principalArn'] as const).flatMap((k) =>
      str(input[k]) !== undefined ? [[k, str(input[k])]] : [],
    ),
  );

export const auditSummaryOf = (archive: ExecutionArchive): AuditSummary => {
  const x = archive.execution;
  const input = (parse(x.input) ?? {}) as Record<string, unknown>;
  return {
    ...attemptOf(x.name, input),
    kind: archive.kind,
    status: x.status,
    startedAt: x.startDate,
    ...(x.stopDate ? { stoppedAt: x.stopDate } : {}),
    ...requestFieldsOf(input),
    ...(revokedFrom(parse(x.output)).length ? { principalArns: revokedFrom(parse(x.output)) } : {}),
    ...(x.error !== undefined || x.cause !== undefined ? { error: { code: x.error ?? 'Unknown', message: causeMessage(x.cause) } } : {}),
  };
};

/** The record of a request from its attempts' documents, in attempt order (at least the first). */
export const auditRecordOf = (runs: ReadonlyArray<{ archive: ExecutionArchive; source: AuditRecord['source'] }>): AuditRecord => {
  const summaries = runs.map((r) => auditSummaryOf(r.archive));
  const latest = runs[runs.length - 1];
  return {
    ...summaries[summaries.length - 1],
    ...(latest.archive.execution.output !== undefined ? { output: parse(latest.archive.execution.output) } : {}),
    attempts: summaries.map(({ attempt, status, startedAt, stoppedAt, retriedBy, error }) => ({
      attempt,
      status,
      startedAt,
      ...(stoppedAt ? { stoppedAt } : {}),
      ...(retriedBy ? { retriedBy } : {}),
      ...(error ? { error } : {}),
    })),
    steps: runs.flatMap((r, i) => stepsOf(r.archive.events, summaries[i].attempt)),
    source: latest.source,
  };
};
