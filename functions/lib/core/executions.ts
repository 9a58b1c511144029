import { randomUUID } from 'node:crypto';
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { isAwsError, mapAwsError } from './aws-errors';
import { ProvisioningError } from './errors';
import { emitMetrics, METRIC } from './metrics';
import { attemptName, attemptOf, readAttempts } from '../api/attempts';
import { outcomeOf, type OutcomeView } from '../api/outcome';

/**
 * Requests are Step Functions executions: the request id is the execution name (of its first
 * attempt, see attempts.ts), so Step Functions itself guarantees one execution per request id,
 * attempt and state machine.
 */
export type RequestKind = 'onboarding' | 'offboarding';
export const REQUEST_KINDS: readonly RequestKind[] = ['onboarding', 'offboarding'];

export interface ExecutionsDeps {
  sfn: SFNClient;
  /** State machine ARN per kind of request. */
  stateMachines: Record<RequestKind, string>;
}

export type RequestStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

/** One run of a request, as GET /requests lists them. */
export interface AttemptSummary {
  attempt: number;
  status: RequestStatus;
  startedAt: string;
  stoppedAt?: string;
}

export interface RequestView extends OutcomeView {
  requestId: string;
  kind: RequestKind;
  /** Which run of the request this is: 1, or a retry's number. */
  attempt: number;
  status: RequestStatus;
  input: Record<string, unknown>;
  output?: unknown;
  error?: { code: string; message: string };
  startedAt: string;
  stoppedAt?: string;
  /** With findRequest: every attempt of the request, in order; the view is the latest one's. */
  attempts?: AttemptSummary[];
}

export const executionArnOf = (stateMachineArn: string, name: string): string => `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

/** A JSON string's value; text that is not JSON as it is. */
export const parseJson = (s: string | undefined): unknown => {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

/** A Lambda error's cause is `{"errorType", "errorMessage", "trace"}` as JSON; a Fail state's is plain text. */
export const causeMessage = (cause: string | undefined): string => {
  const parsed = parseJson(cause);
  if (parsed && typeof parsed === 'object' && typeof (parsed as { errorMessage?: unknown }).errorMessage === 'string')
    return (parsed as { errorMessage: string }).errorMessage;
  return cause ?? '';
};

const viewOf = (kind: RequestKind, e: DescribeExecutionCommandOutput): RequestView => {
  const input = (parseJson(e.input) ?? {}) as Record<string, unknown>;
  const status = (e.status ?? 'RUNNING') as RequestStatus;
  const output = parseJson(e.output);
  return {
    ...attemptOf(e.name ?? '', input),
    kind,
    status,
    ...outcomeOf(kind, status, output),
    input,
    ...(e.output !== undefined ? { output } : {}),
    ...(e.error !== undefined || e.cause !== undefined ? { error: { code: e.error ?? 'Unknown', message: causeMessage(e.cause) } } : {}),
    startedAt: (e.startDate ?? new Date(0)).toISOString(),
    ...(e.stopDate ? { stoppedAt: e.stopDate.toISOString() } : {}),
  };
};

/** The execution of this kind with this name (a request id, or an attempt's name), if Step Functions has it. */
export const describeRequest = async (deps: ExecutionsDeps, kind: RequestKind, name: string): Promise<RequestView | undefined> => {
  try {
    return viewOf(kind, await deps.sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(deps.stateMachines[kind], name) })));
  } catch (e) {
    if (isAwsError(e, 'ExecutionDoesNotExist')) return undefined;
    return mapAwsError(e, `describe request ${name}`);
  }
};

const summaryOf = (v: RequestView): AttemptSummary => ({
  attempt: v.attempt,
  status: v.status,
  startedAt: v.startedAt,
  ...(v.stoppedAt ? { stoppedAt: v.stoppedAt } : {}),
});

/**
 * An attempt that started before the request's first attempt belongs to an earlier run of the same request id: Step
 * Functions forgot that run's first execution (90 days after it ended) and the id was sent again, while it still
 * has the later-ending attempt. It is not this run's (the archive keeps it with its own run: /audit/{requestId}).
 */
const ofEarlierRun = (first: RequestView, attempt: RequestView): boolean => attempt.startedAt < first.startedAt;

/** The request whose first attempt is `first`: its latest attempt, listing them all. */
const withAttempts = async (deps: ExecutionsDeps, first: RequestView): Promise<RequestView> => {
  const runs = await readAttempts(first.requestId, async (name, n) => {
    if (n === 1) return first;
    const attempt = await describeRequest(deps, first.kind, name);
    return attempt && !ofEarlierRun(first, attempt) ? attempt : undefined;
  });
  return { ...runs[runs.length - 1], attempts: runs.map(summaryOf) };
};

/** The request with this id, whichever workflow runs it: its latest attempt, with every attempt listed. */
export const findRequest = async (deps: ExecutionsDeps, requestId: string): Promise<RequestView | undefined> => {
  for (const kind of REQUEST_KINDS) {
    const found = await describeRequest(deps, kind, requestId);
    // An attempt's name is not a request id: a request is found by its own id only.
    if (found && found.attempt === 1) return withAttempts(deps, found);
  }
  return undefined;
};

export const getRequest = async (deps: ExecutionsDeps, requestId: string): Promise<RequestView> => {
  const found = await findRequest(deps, requestId);
  if (!found) throw new ProvisioningError('RequestNotFound', `no request "${requestId}"`, { details: { requestId } });
  return found;
};

/**
 * Who asked (and so whose ownership a self-service run checks) and which call it was may differ between a request and
 * its replay; what is asked may not.
 */
const WHO = new Set(['requestedBy', 'requireOwner', 'submissionId', 'attempt', 'retriedBy']);
const sameRequest = (a: Record<string, unknown>, b: Record<string, unknown>): boolean => {
  const canonical = (o: Record<string, unknown>): string =>
    JSON.stringify(
      Object.fromEntries(
        Object.entries(o)
          .filter(([k]) => !WHO.has(k))
          .sort(([x], [y]) => x.localeCompare(y)),
      ),
    );
  return canonical(a) === canonical(b);
};

const conflict = (existing: RequestView): ProvisioningError =>
  new ProvisioningError('RequestConflict', `request id "${existing.requestId}" is already used by a different ${existing.kind} request; use a new request id`, {
    details: { requestId: existing.requestId },
  });

const replayOf = (existing: RequestView, kind: RequestKind, input: Record<string, unknown>): RequestView => {
  if (existing.kind !== kind || !sameRequest(existing.input, input)) throw conflict(existing);
  return existing;
};

export interface StartResult {
  /** False when the request id (or the attempt) was already used for the same request: nothing new started. */
  started: boolean;
  request: RequestView;
}

type Reveal = (existing: RequestView) => RequestView;

/**
 * Starts the execution `name` of the request, or answers with the one of that name when it is the same request.
 * Every call's input is its own (submissionId): Step Functions then starts the execution for exactly one of any
 * calls racing with one name, and answers ExecutionAlreadyExists to the others, whatever their timing. With
 * identical inputs it would answer each of them as if it had started the run.
 */
const startNamed = async (
  deps: ExecutionsDeps,
  kind: RequestKind,
  name: string,
  input: Record<string, unknown> & { requestId: string },
  reveal: Reveal,
): Promise<StartResult> => {
  const submitted = { ...input, submissionId: randomUUID() };
  try {
    const out = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: deps.stateMachines[kind], name, input: JSON.stringify(submitted) }));
    const startDate = out.startDate ?? new Date();
    // Counted here, the one place an execution starts (API requests, retries, identity-provider events); a replay is not.
    emitMetrics([{ name: METRIC.requestsStarted, unit: 'Count', value: 1, dimensions: { kind, target: String(input.target) }, metadata: { requestId: name } }]);
    return { started: true, request: { ...attemptOf(name, submitted), kind, status: 'RUNNING', input: submitted, startedAt: startDate.toISOString() } };
  } catch (e) {
    // Ended, or running with other input (another caller, another request).
    if (isAwsError(e, 'ExecutionAlreadyExists')) {
      const existing = await describeRequest(deps, kind, name);
      if (existing) return { started: false, request: replayOf(reveal(existing), kind, input) };
    }
    return mapAwsError(e, `start ${kind} ${name}`);
  }
};

/**
 * Starts the request's execution, named by its request id. A replay (same id, same request)
 * starts nothing and answers with the request as it is now (its latest attempt); the same id for
 * a different request, or for a request of the other kind, is a conflict. One read (the other
 * kind) and one start per new request: Step Functions itself refuses a second execution of the
 * same name.
 *
 * `reveal` sees an existing execution before anything about it is answered (a replay shows its
 * input and output, a conflict its existence): it returns it, or throws what the caller gets instead.
 */
export const startRequest = async (
  deps: ExecutionsDeps,
  kind: RequestKind,
  input: Record<string, unknown> & { requestId: string },
  reveal: Reveal = (existing) => existing,
): Promise<StartResult> => {
  const other = REQUEST_KINDS.find((k) => k !== kind) as RequestKind;
  const elsewhere = await describeRequest(deps, other, input.requestId);
  if (elsewhere) throw conflict(reveal(elsewhere));
  const result = await startNamed(deps, kind, input.requestId, input, reveal);
  return result.started ? result : { started: false, request: await withAttempts(deps, result.request) };
};

/**
 * Starts a request whose name is derived from its kind and content (identity-provider runs, executionNameFor), which
 * no request of the other kind can carry: one StartExecution, without startRequest's read of the other kind, so a
 * reconcile of thousands of people costs one call each.
 */
export const startDerivedRequest = async (
  deps: ExecutionsDeps,
  kind: RequestKind,
  input: Record<string, unknown> & { requestId: string },
): Promise<StartResult> => {
  const result = await startNamed(deps, kind, input.requestId, input, (existing) => existing);
  return result.started ? result : { started: false, request: await withAttempts(deps, result.request) };
};

/**
 * Starts attempt `attempt` of a request (its execution `<requestId>.<attempt>`) with the request's input. Retries
 * racing for one attempt start it once; the others answer with it.
 */
export const startAttempt = async (
  deps: ExecutionsDeps,
  kind: RequestKind,
  input: Record<string, unknown> & { requestId: string },
  attempt: number,
  reveal: Reveal = (existing) => existing,
): Promise<StartResult> => {
  const name = attemptName(input.requestId, attempt);
  const result = await startNamed(deps, kind, name, { ...input, attempt }, reveal);
  if (result.started) return result;
  const first = await describeRequest(deps, kind, input.requestId);
  if (first && ofEarlierRun(first, result.request)) {
    // The name is taken until Step Functions forgets that execution too: answering it as this run's would say a retry
    // started that did not.
    throw new ProvisioningError(
      'RequestConflict',
      `attempt ${attempt} of request "${input.requestId}" cannot start: ` +
        `Step Functions still holds execution "${name}" of an earlier run of this request id ` +
        `(started ${result.request.startedAt}, before this run's ${first.startedAt}); ` +
        `send the request again under a new requestId`,
      { details: { requestId: input.requestId, attempt, heldSince: result.request.startedAt } },
    );
  }
  return { started: false, request: first ? await withAttempts(deps, first) : result.request };
};
