import { randomUUID } from 'node:crypto';
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mapAwsError } from '../aws-errors';
import { ProvisioningError } from '../errors';

/**
 * Requests are Step Functions executions: the request id is the execution name, so Step
 * Functions itself guarantees one execution per request id and state machine.
 */
export type RequestKind = 'onboarding' | 'offboarding';
export const REQUEST_KINDS: readonly RequestKind[] = ['onboarding', 'offboarding'];

export interface ExecutionsDeps {
  sfn: SFNClient;
  /** State machine ARN per kind of request. */
  stateMachines: Record<RequestKind, string>;
}

export type RequestStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

export interface RequestView {
  requestId: string;
  kind: RequestKind;
  status: RequestStatus;
  input: Record<string, unknown>;
  output?: unknown;
  error?: { code: string; message: string };
  startedAt: string;
  stoppedAt?: string;
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
  if (parsed && typeof parsed === 'object' && typeof (parsed as { errorMessage?: unknown }).errorMessage === 'string') return (parsed as { errorMessage: string }).errorMessage;
  return cause ?? '';
};

const viewOf = (kind: RequestKind, e: DescribeExecutionCommandOutput): RequestView => ({
  requestId: e.name ?? '',
  kind,
  status: (e.status ?? 'RUNNING') as RequestStatus,
  input: (parseJson(e.input) ?? {}) as Record<string, unknown>,
  ...(e.output !== undefined ? { output: parseJson(e.output) } : {}),
  ...(e.error !== undefined || e.cause !== undefined ? { error: { code: e.error ?? 'Unknown', message: causeMessage(e.cause) } } : {}),
  startedAt: (e.startDate ?? new Date(0)).toISOString(),
  ...(e.stopDate ? { stoppedAt: e.stopDate.toISOString() } : {}),
});

/** The request of this kind with this id, if Step Functions has it. */
export const describeRequest = async (deps: ExecutionsDeps, kind: RequestKind, requestId: string): Promise<RequestView | undefined> => {
  try {
    return viewOf(kind, await deps.sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(deps.stateMachines[kind], requestId) })));
  } catch (e) {
    if ((e as Error).name === 'ExecutionDoesNotExist') return undefined;
    return mapAwsError(e, `describe request ${requestId}`);
  }
};

/** The request with this id, whichever workflow runs it. */
export const findRequest = async (deps: ExecutionsDeps, requestId: string): Promise<RequestView | undefined> => {
  for (const kind of REQUEST_KINDS) {
    const found = await describeRequest(deps, kind, requestId);
    if (found) return found;
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
const WHO = new Set(['requestedBy', 'requireOwner', 'submissionId']);
const sameRequest = (a: Record<string, unknown>, b: Record<string, unknown>): boolean => {
  const canonical = (o: Record<string, unknown>): string =>
    JSON.stringify(Object.fromEntries(Object.entries(o).filter(([k]) => !WHO.has(k)).sort(([x], [y]) => x.localeCompare(y))));
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
  /** False when the request id was already used for the same request: nothing new started. */
  started: boolean;
  request: RequestView;
}

/**
 * Starts the request's execution, named by its request id. A replay (same id, same request)
 * starts nothing and answers with the existing execution; the same id for a different request,
 * or for a request of the other kind, is a conflict. One read (the other kind) and one start per
 * new request: Step Functions itself refuses a second execution of the same name.
 *
 * `reveal` sees an existing execution before anything about it is answered (a replay shows its
 * input and output, a conflict its existence): it returns it, or throws what the caller gets instead.
 */
export const startRequest = async (
  deps: ExecutionsDeps,
  kind: RequestKind,
  input: Record<string, unknown> & { requestId: string },
  reveal: (existing: RequestView) => RequestView = (existing) => existing,
): Promise<StartResult> => {
  const other = REQUEST_KINDS.find((k) => k !== kind) as RequestKind;
  const elsewhere = await describeRequest(deps, other, input.requestId);
  if (elsewhere) throw conflict(reveal(elsewhere));
  // Every call's input is its own (submissionId): Step Functions then starts the execution for exactly one of any
  // calls racing with one request id, and answers ExecutionAlreadyExists to the others, whatever their timing. With
  // identical inputs it would answer each of them as if it had started the run.
  const submitted = { ...input, submissionId: randomUUID() };
  try {
    const out = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: deps.stateMachines[kind], name: input.requestId, input: JSON.stringify(submitted) }));
    const startDate = out.startDate ?? new Date();
    return { started: true, request: { requestId: input.requestId, kind, status: 'RUNNING', input: submitted, startedAt: startDate.toISOString() } };
  } catch (e) {
    // Ended, or running with other input (another caller, another request).
    if ((e as Error).name === 'ExecutionAlreadyExists') {
      const existing = await describeRequest(deps, kind, input.requestId);
      if (existing) return { started: false, request: replayOf(reveal(existing), kind, input) };
    }
    return mapAwsError(e, `start ${kind} ${input.requestId}`);
  }
};
