import { parsePrincipalArn } from '../core/arn';
import { type Config, resolveTargetConfig } from '../core/config';
import { accessReviewCsv } from '../review/access-review';
import { runAccessReview } from '../review/run-review';
import { invalid, ProvisioningError } from '../core/errors';
import { logger } from '../core/logger';
import type { PlanDeps } from '../workflows/request-plan';
import { REQUEST_ID_PATTERN } from '../core/requests';
import type { ArchiveStore } from '../audit/archive';
import { auditFilterOf, limitOf, listAudit } from '../audit/query';
import { readRequestRuns } from '../audit/runs';
import { auditRecordOf } from '../audit/trail';
import { accepted } from './acceptance';
import { apiPolicyOf, authorize, authorizeAudit, readableRequest } from './authorization';
import { type Caller, callerOf } from './caller';
import { type ExecutionsDeps, findRequest, REQUEST_KINDS, type RequestKind, startRequest, type StartResult } from '../core/executions';
import { requestIdOf } from './request-ids';
import { onboardingInput, questionOf, requestInput } from './request-input';
import {
  type AccessRequestDeps,
  type Decision,
  type Extending,
  extensionOf,
  extensionWithoutPolicy,
  approvalsRoute,
  type DecisionDeps,
  decideRoute,
  listRoute,
  readRoute,
  refuseWithoutPolicy,
  submitAccessRequest,
  takeAccessFields,
} from './access-requests';
import { matchPolicy } from '../access/policies';
import { RETRYABLE_STATUSES, retryRequest } from './retry';
import { dryRunOf, errorResult, type HttpEvent, type HttpResult, json, jsonBody, queryOf, routeNotFound } from './http';

export interface ApiDeps {
  config: Config;
  executions: ExecutionsDeps;
  plan: PlanDeps;
  archive: ArchiveStore;
  newRequestId: () => string;
  /** Requests under approval policies (access-requests.ts); needed only when the configuration has approvalPolicies. */
  accessRequests?: AccessRequestDeps;
}

/** The routes of the API (README "HTTP API"), as API Gateway names them in `routeKey`. */
export const ROUTES = [
  'POST /access-requests',
  'POST /revocations',
  'GET /requests/{requestId}',
  'POST /requests/{requestId}/retry',
  'GET /audit',
  'GET /audit/{requestId}',
  'GET /grants',
] as const;

/** The routes of requests under approval policies; the template test holds ROUTES and these to what the stack deploys. */
export const ACCESS_REQUEST_ROUTES = [
  'GET /access-requests',
  'GET /access-requests/{requestId}',
  'POST /access-requests/{requestId}/approve',
  'POST /access-requests/{requestId}/deny',
  'POST /access-requests/{requestId}/cancel',
  'POST /access-requests/{requestId}/revoke',
  'POST /access-requests/{requestId}/extend',
  'GET /approvals',
] as const;

const submit = async (event: HttpEvent, deps: ApiDeps, kind: RequestKind): Promise<HttpResult> =>
  submitBody(deps, kind, callerOf(event), jsonBody(event), dryRunOf(event));

/** A request as a body says it, from this caller; an extension passes the request it extends in `extending`. */
const submitBody = async (
  deps: ApiDeps,
  kind: RequestKind,
  caller: Caller,
  body: Record<string, unknown>,
  dryRun: boolean,
  extending?: Extending,
): Promise<HttpResult> => {
  // Who asks and for whom is the API's to say, never the body's.
  for (const field of ['requestedBy', 'requireOwner', 'idpUser', 'submissionId', 'retriedBy']) {
    if (Object.hasOwn(body, field)) throw invalid(field, "is not accepted: the API sets it from the caller's IAM identity");
  }
  if (Object.hasOwn(body, 'attempt')) throw invalid('attempt', 'is not accepted here: to run a request again, POST /requests/{requestId}/retry');
  const policy = apiPolicyOf(deps.config);
  const authorization = authorize(caller, questionOf(kind, body), policy);
  if (Object.hasOwn(body, 'sessionTagKey'))
    throw invalid(
      'sessionTagKey',
      'is not accepted: a shared role is granted through its session tag by identity-provider runs only (idp.principal kind "shared")',
    );
  const { rest, access } = kind === 'onboarding' ? takeAccessFields(body) : { rest: body, access: {} };
  const fields = {
    ...rest,
    requestId: requestIdOf(authorization, body.requestId === undefined ? deps.newRequestId() : body.requestId),
    requestedBy: caller.arn,
    ...(authorization.admin ? {} : { requireOwner: authorization.owner }),
  };
  const onboarding = kind === 'onboarding' ? onboardingInput(fields, deps.config) : undefined;
  if (onboarding) {
    // Under an approval policy the request is stored for review and grants nothing yet; without one it runs as always.
    const matched = matchPolicy(deps.config, onboarding.input.target, onboarding.input.dbRoles);
    if (matched)
      return submitAccessRequest(deps, { caller, matched, input: onboarding.input, access, plan: () => onboarding.plan(deps.plan), dryRun, extending });
    if (extending) throw extensionWithoutPolicy(extending);
    refuseWithoutPolicy(access, onboarding.input.target);
  }
  const { input, plan, accept } = onboarding ?? requestInput(kind, fields, deps.config);

  if (dryRun) return json(200, await plan(deps.plan));
  await accepted(accept, deps, input.requestId, true);
  // A replay answers what the request is, so it is a read: only what GET would show this caller.
  const result = await startRequest(deps.executions, kind, input, (existing) => readableRequest(caller, input.requestId, existing, policy));
  logger.info(result.started ? 'request started' : 'request replayed', { requestId: result.request.requestId, kind, requestedBy: caller.arn });
  return startAnswer(result);
};

/**
 * 202 with where to look when a run started; otherwise 200 with the request as it is now. A request id names one
 * request: sending it again runs nothing, so an ended, unfinished request says how to run it again.
 */
const startAnswer = ({ started, request }: StartResult): HttpResult => {
  const location = `/requests/${encodeURIComponent(request.requestId)}`;
  if (started)
    return json(
      202,
      {
        requestId: request.requestId,
        kind: request.kind,
        ...(request.attempt > 1 ? { attempt: request.attempt } : {}),
        status: request.status,
        startedAt: request.startedAt,
        location,
      },
      { location },
    );
  const hint = RETRYABLE_STATUSES.includes(request.status)
    ? {
        hint:
          `this request ended ${request.status} (attempt ${request.attempt}) and is not run again by sending ` +
          `it again; to finish it, POST ${location}/retry (every step is idempotent: ` +
          `the new attempt finishes what this one left)`,
      }
    : {};
  return json(200, { ...request, ...hint, location }, { location });
};

const requestIdParameter = (event: HttpEvent): string => {
  const requestId = event.pathParameters?.requestId ?? '';
  if (!REQUEST_ID_PATTERN.test(requestId)) throw invalid('requestId', 'must be 1-80 characters of letters, digits, _ and -');
  return requestId;
};

/** POST /requests/{requestId}/retry: the request's next attempt (retry.ts). The body is optional. */
const retry = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  const caller = callerOf(event);
  const requestId = requestIdParameter(event);
  const body = event.body === undefined || event.body === '' ? {} : jsonBody(event);
  const result = await retryRequest(deps, caller, requestId, body);
  logger.info(result.started ? 'request retried' : 'request retry replayed', { requestId, attempt: result.request.attempt, retriedBy: caller.arn });
  return startAnswer(result);
};

const status = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  const caller = callerOf(event);
  const requestId = requestIdParameter(event);
  return json(200, readableRequest(caller, requestId, await findRequest(deps.executions, requestId), apiPolicyOf(deps.config)));
};

/** The audit listing: filters, time range, cursor pagination. */
const auditList = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  authorizeAudit(callerOf(event), apiPolicyOf(deps.config));
  const q = queryOf(event, ['dbUser', 'principalArn', 'target', 'status', 'from', 'to', 'limit', 'cursor']);
  return json(200, await listAudit({ archive: deps.archive, executions: deps.executions }, auditFilterOf(q), limitOf(q.limit), q.cursor));
};

/**
 * Every attempt of the request, each from Step Functions while it has the execution and from the archive after:
 * the same document either way. The latest run of the id answers; earlier runs of the same id (Step Functions forgot
 * them and the id was sent again, or local mode restarted) follow in `earlierRuns`, oldest first, each as complete.
 */
const auditOne = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  authorizeAudit(callerOf(event), apiPolicyOf(deps.config));
  const requestId = requestIdParameter(event);
  for (const kind of REQUEST_KINDS) {
    const runs = await readRequestRuns(
      { sfn: deps.executions.sfn, stateMachineArn: deps.executions.stateMachines[kind], archive: deps.archive },
      kind,
      requestId,
    );
    if (!runs.length) continue;
    const earlier = runs.slice(0, -1).map((run) => auditRecordOf(run));
    return json(200, { ...auditRecordOf(runs[runs.length - 1]), ...(earlier.length ? { earlierRuns: earlier } : {}) });
  }
  throw new ProvisioningError('RequestNotFound', `no request "${requestId}" in Step Functions or the archive`, { details: { requestId } });
};

/**
 * The access review, now: per target the managed database users and the principals whose project
 * policies let them connect, drift flagged. JSON, or CSV with `Accept: text/csv`.
 */
const grantsReview = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  authorizeAudit(callerOf(event), apiPolicyOf(deps.config));
  const q = queryOf(event, ['target', 'principalArn']);
  const targets =
    q.target !== undefined
      ? [resolveTargetConfig(deps.config, q.target)]
      : Object.keys(deps.config.targets)
          .sort()
          .map((n) => resolveTargetConfig(deps.config, n));
  const principal = q.principalArn !== undefined ? parsePrincipalArn(q.principalArn) : undefined;
  const review = await runAccessReview(
    deps.plan,
    targets,
    { ...(q.target ? { target: q.target } : {}), ...(principal ? { principalArn: principal.arn } : {}) },
    principal,
  );
  if (/\btext\/csv\b/i.test(event.headers?.accept ?? '')) {
    return {
      statusCode: 200,
      headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="access-review.csv"' },
      body: accessReviewCsv(review),
    };
  }
  return json(200, review);
};

/** The access-request routes' dependencies; without a store they are a configuration error, not a 404. */
const decisionDeps = (deps: ApiDeps): DecisionDeps => {
  if (!deps.accessRequests)
    throw new ProvisioningError('ConfigurationError', 'the access-request routes need the access-request store (ACCESS_REQUESTS_TABLE is not set)');
  return { config: deps.config, api: apiPolicyOf(deps.config), access: deps.accessRequests };
};

/** POST /access-requests/{requestId}/extend: a new request for the same grant, reviewed like any, capped in total. */
const extend = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  const caller = callerOf(event);
  const { body, extending } = await extensionOf(decisionDeps(deps), caller, requestIdParameter(event), jsonBody(event));
  return submitBody(deps, 'onboarding', caller, body, dryRunOf(event), extending);
};

const decision = async (event: HttpEvent, deps: ApiDeps, kind: Decision): Promise<HttpResult> => {
  const caller = callerOf(event);
  const requestId = requestIdParameter(event);
  const body = event.body === undefined || event.body === '' ? {} : jsonBody(event);
  return decideRoute(decisionDeps(deps), caller, requestId, kind, body);
};

const accessRoute = (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> | undefined => {
  switch (event.routeKey as (typeof ACCESS_REQUEST_ROUTES)[number]) {
    case 'GET /access-requests':
      return listRoute(decisionDeps(deps), callerOf(event), queryOf(event, ['status', 'requester', 'subject', 'target']));
    case 'GET /access-requests/{requestId}':
      return readRoute(decisionDeps(deps), callerOf(event), requestIdParameter(event));
    case 'POST /access-requests/{requestId}/approve':
      return decision(event, deps, 'approve');
    case 'POST /access-requests/{requestId}/deny':
      return decision(event, deps, 'deny');
    case 'POST /access-requests/{requestId}/cancel':
      return decision(event, deps, 'cancel');
    case 'POST /access-requests/{requestId}/revoke':
      return decision(event, deps, 'revoke');
    case 'POST /access-requests/{requestId}/extend':
      return extend(event, deps);
    case 'GET /approvals':
      return approvalsRoute(decisionDeps(deps), callerOf(event));
    default:
      return undefined;
  }
};

/** One API request in, one response out; every refusal is `{error, message}` with its status. */
export const handleApiEvent = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  try {
    switch (event.routeKey) {
      case 'POST /access-requests':
        return await submit(event, deps, 'onboarding');
      case 'POST /revocations':
        return await submit(event, deps, 'offboarding');
      case 'GET /requests/{requestId}':
        return await status(event, deps);
      case 'POST /requests/{requestId}/retry':
        return await retry(event, deps);
      case 'GET /audit':
        return await auditList(event, deps);
      case 'GET /audit/{requestId}':
        return await auditOne(event, deps);
      case 'GET /grants':
        return await grantsReview(event, deps);
      default: {
        const answer = accessRoute(event, deps);
        if (!answer) throw routeNotFound(event);
        return await answer;
      }
    }
  } catch (e) {
    if (e instanceof ProvisioningError) {
      logger.warn('request refused', { route: event.routeKey, error: e.code, errorMessage: e.message, caller: event.requestContext?.authorizer?.iam?.userArn });
      return errorResult(e);
    }
    logger.error('request failed unexpectedly', e as Error);
    return json(500, {
      error: 'InternalError',
      message: `internal error; the API logs have the details under request id ${event.requestContext?.requestId ?? 'unknown'}`,
    });
  }
};
