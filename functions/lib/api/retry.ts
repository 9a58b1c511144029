import type { AccessRequestStore } from '../access/store';
import type { Config } from '../core/config';
import { invalid, ProvisioningError } from '../core/errors';
import { MAX_ATTEMPTS } from '../core/requests';
import type { PlanDeps } from '../workflows/request-plan';
import { accepted } from './acceptance';
import { apiPolicyOf, authorize, readableRequest } from './authorization';
import type { Caller } from './caller';
import { type ExecutionsDeps, findRequest, type RequestView, type StartResult, startAttempt } from '../core/executions';
import { selfServiceNamespace } from './request-ids';
import { questionOf, requestInput } from './request-input';

/** A run that ended without finishing: what a retry is for. */
export const RETRYABLE_STATUSES: readonly string[] = ['FAILED', 'TIMED_OUT', 'ABORTED'];

/** What the API sets on an attempt: everything else in the input is the request, asked again. */
const SET_BY_API = ['submissionId', 'attempt', 'retriedBy', 'requireOwner'];

const locationOf = (requestId: string): string => `/requests/${encodeURIComponent(requestId)}`;

/** The optional body: `{attempt}` names the attempt the client means to start, so a resent retry starts nothing new. */
const requestedAttemptOf = (body: Record<string, unknown>): number | undefined => {
  const unknown = Object.keys(body).filter((k) => k !== 'attempt');
  if (unknown.length)
    throw invalid(unknown.join(', '), 'is not a known field (a retry runs the request as it was sent; the body may name only the attempt to start)');
  const { attempt } = body;
  if (attempt === undefined) return undefined;
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 2 || attempt > MAX_ATTEMPTS)
    throw invalid('attempt', `must be a whole number from 2 to ${MAX_ATTEMPTS}`);
  return attempt;
};

const refuseUnlessEnded = (request: RequestView): void => {
  const details = { requestId: request.requestId, attempt: request.attempt, status: request.status, location: locationOf(request.requestId) };
  if (request.status === 'SUCCEEDED') {
    throw new ProvisioningError(
      'NothingToRetry',
      `request "${request.requestId}" succeeded (attempt ${request.attempt}): there is nothing to retry; to change the access it gave, send a new request`,
      { details },
    );
  }
  if (!RETRYABLE_STATUSES.includes(request.status)) {
    throw new ProvisioningError(
      'RequestRunning',
      `request "${request.requestId}" is ${request.status} (attempt ${request.attempt}, ` +
        `since ${request.startedAt}): wait for it to end (GET ${details.location}); only a FAILED, ` +
        `TIMED_OUT or ABORTED request can be retried`,
      { details },
    );
  }
};

/**
 * POST /requests/{requestId}/retry: runs a request again as its next attempt, authorised and validated as if it
 * were sent now. Every step is idempotent, so the new attempt finishes what the failed one left.
 */
export const retryRequest = async (
  deps: { config: Config; executions: ExecutionsDeps; plan: PlanDeps; accessRequests?: { store: AccessRequestStore } },
  caller: Caller,
  requestId: string,
  body: Record<string, unknown>,
): Promise<StartResult> => {
  const wanted = requestedAttemptOf(body);
  // The onboarding of an access request is its activation's: run again here it would grant with no end.
  if (await deps.accessRequests?.store.get(requestId))
    throw new ProvisioningError(
      'RequestConflict',
      `request "${requestId}" is the grant of an access request: it is not retried here (a retry would grant it without its end); ` +
        'send a new access request',
      { details: { requestId } },
    );
  const policy = apiPolicyOf(deps.config);
  // A request the caller may not read is unknown to it, as for GET.
  const request = readableRequest(caller, requestId, await findRequest(deps.executions, requestId), policy);
  const attempts = request.attempts ?? [];
  const asked = wanted === undefined ? undefined : attempts.find((a) => a.attempt === wanted);
  // The client resending a retry that started: the request as it is now, not another run.
  if (asked) return { started: false, request };
  refuseUnlessEnded(request);
  const next = request.attempt + 1;
  if (wanted !== undefined && wanted !== next) {
    throw new ProvisioningError(
      'RequestConflict',
      `attempt ${wanted} of request "${requestId}" cannot start: the latest is attempt ${request.attempt}, so the next is ${next}`,
      { details: { requestId, attempt: request.attempt } },
    );
  }
  if (next > MAX_ATTEMPTS) {
    throw new ProvisioningError(
      'RetryLimitReached',
      `request "${requestId}" has run ${request.attempt} times, the most a request may (${MAX_ATTEMPTS}); ` +
        `fix what made it fail and send it again under a new requestId`,
      {
        details: { requestId, attempts: request.attempt },
      },
    );
  }

  const original = Object.fromEntries(Object.entries(request.input).filter(([k]) => !SET_BY_API.includes(k)));
  const authorization = authorize(caller, questionOf(request.kind, original), policy);
  // Self-service callers retry what they could have sent: requests in their own namespace. That leaves
  // identity-provider runs (idp-) and administrators' requests to administrators.
  if (!authorization.admin && !requestId.startsWith(selfServiceNamespace(authorization.owner))) {
    throw new ProvisioningError(
      'NotAuthorized',
      `${caller.arn} may retry only requests it sent itself (self-service); ` +
        `"${requestId}" was sent by an administrator or an identity provider: ask an administrator`,
      {
        details: { reason: 'not own request' },
      },
    );
  }
  const fields = {
    ...original,
    requestId,
    retriedBy: caller.arn,
    // An administrator retries the request as it was, with the ownership check a self-service sender had.
    ...(authorization.admin
      ? typeof request.input.requireOwner === 'string'
        ? { requireOwner: request.input.requireOwner }
        : {}
      : { requireOwner: authorization.owner }),
  };
  // Validated against today's configuration and target: a request no longer allowed, or naming a database that is
  // gone, is refused here, and nothing starts. (An attempt is not a replay: the request exists, the attempt is new.)
  const { input, accept } = requestInput(request.kind, fields, deps.config);
  await accepted(accept, deps, requestId, false);
  return startAttempt(deps.executions, request.kind, input, next, (existing) => readableRequest(caller, requestId, existing, policy));
};
