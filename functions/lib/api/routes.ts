import { parsePrincipalArn, type PrincipalArn } from '../arn';
import { type Config, resolveTargetConfig } from '../config';
import { listGrantPolicies } from '../iam/grants';
import { describeTarget } from '../rds';
import { accessReview, accessReviewCsv, grantsOnTarget, reviewTarget, type TargetReview } from '../review/access-review';
import { invalid, ProvisioningError } from '../errors';
import { defaultDbUser } from '../identifiers';
import { logger } from '../logger';
import { type PlanDeps, planOffboardingRequest, planOnboardingRequest } from '../plan/request-plan';
import { REQUEST_ID_PATTERN, validateOffboardRequest, validateOnboardRequest } from '../requests';
import { type ArchiveStore, readArchive, readExecution } from '../audit/archive';
import { auditFilterOf, limitOf, listAudit } from '../audit/query';
import { auditRecordOf } from '../audit/trail';
import { type AccessQuestion, apiPolicyOf, authorize, authorizeAudit, readableRequest } from './authorization';
import { callerOf } from './caller';
import { type ExecutionsDeps, findRequest, REQUEST_KINDS, type RequestKind, startRequest } from './executions';
import { requestIdOf } from './request-ids';
import { dryRunOf, errorResult, type HttpEvent, type HttpResult, json, jsonBody, queryOf, routeNotFound } from './http';

export interface ApiDeps {
  config: Config;
  executions: ExecutionsDeps;
  plan: PlanDeps;
  archive: ArchiveStore;
  newRequestId: () => string;
}

/** The routes of the API (DESIGN.md), as API Gateway names them in `routeKey`. */
export const ROUTES = ['POST /access-requests', 'POST /revocations', 'GET /requests/{requestId}', 'GET /audit', 'GET /audit/{requestId}', 'GET /grants'] as const;

/**
 * What the caller asks for, read from the raw body before anything else, so a caller that may not
 * ask learns nothing about the configuration. Missing or malformed fields are left to validation.
 */
const questionOf = (kind: RequestKind, body: Record<string, unknown>): AccessQuestion => {
  let principal: PrincipalArn | undefined;
  if (body.principalArn !== undefined) principal = parsePrincipalArn(body.principalArn);
  const dbUser = typeof body.dbUser === 'string' ? body.dbUser : kind === 'onboarding' && principal ? defaultDbUser(principal.name) : undefined;
  return { action: kind === 'onboarding' ? 'request access' : 'revoke access', principal, dbUser };
};

const sortedUnique = (xs: string[]): string[] => [...new Set(xs)].sort();

/**
 * The execution input of a request: the validated request in canonical form (defaults filled,
 * lists sorted), so a replay compares equal to the original whatever the client omitted.
 */
const onboardingInput = (fields: Record<string, unknown>, config: Config) => {
  const validated = validateOnboardRequest(fields, config);
  const { request, target } = validated;
  return {
    plan: (deps: PlanDeps) => planOnboardingRequest(deps, validated),
    input: {
      requestId: request.requestId,
      principalArn: request.principal.arn,
      dbUser: request.dbUser,
      target: target.name,
      dbRoles: sortedUnique(request.dbRoles),
      databases: sortedUnique(request.databases),
      ...(request.sessionTagKey !== undefined ? { sessionTagKey: request.sessionTagKey } : {}),
      ...(request.exclusiveRoles ? { exclusiveRoles: true } : {}),
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      ...(request.requireOwner ? { requireOwner: request.requireOwner.arn } : {}),
      requestedBy: fields.requestedBy as string,
    },
  };
};

const offboardingInput = (fields: Record<string, unknown>, config: Config) => {
  const validated = validateOffboardRequest(fields, config);
  const { request, target } = validated;
  return {
    plan: (deps: PlanDeps) => planOffboardingRequest(deps, validated),
    input: {
      requestId: request.requestId,
      dbUser: request.dbUser,
      target: target.name,
      ...(request.principal ? { principalArn: request.principal.arn } : {}),
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      ...(request.requireOwner ? { requireOwner: request.requireOwner.arn } : {}),
      requestedBy: fields.requestedBy as string,
    },
  };
};

const submit = async (event: HttpEvent, deps: ApiDeps, kind: RequestKind): Promise<HttpResult> => {
  const caller = callerOf(event);
  const dryRun = dryRunOf(event);
  const body = jsonBody(event);
  // Who asks and for whom is the API's to say, never the body's.
  for (const field of ['requestedBy', 'requireOwner', 'idpUser', 'submissionId']) {
    if (Object.hasOwn(body, field)) throw invalid(field, 'is not accepted: the API sets it from the caller\'s IAM identity');
  }
  const policy = apiPolicyOf(deps.config);
  const authorization = authorize(caller, questionOf(kind, body), policy);
  if (Object.hasOwn(body, 'sessionTagKey')) throw invalid('sessionTagKey', 'is not accepted: a shared role is granted through its session tag by identity-provider runs only (idp.principal kind "shared")');
  const fields = {
    ...body,
    requestId: requestIdOf(authorization, body.requestId === undefined ? deps.newRequestId() : body.requestId),
    requestedBy: caller.arn,
    ...(authorization.admin ? {} : { requireOwner: authorization.owner }),
  };
  const { input, plan } = kind === 'onboarding' ? onboardingInput(fields, deps.config) : offboardingInput(fields, deps.config);

  if (dryRun) return json(200, await plan(deps.plan));
  // A replay answers what the request is, so it is a read: only what GET would show this caller.
  const { started, request } = await startRequest(deps.executions, kind, input, (existing) => readableRequest(caller, input.requestId, existing, policy));
  logger.info(started ? 'request started' : 'request replayed', { requestId: request.requestId, kind, requestedBy: caller.arn });
  const location = `/requests/${encodeURIComponent(request.requestId)}`;
  // A request id names one run: sending it again does not run a failed request again (see README, re-running).
  const hint = !started && ['FAILED', 'TIMED_OUT', 'ABORTED'].includes(request.status)
    ? { hint: `this request ended ${request.status} and is not run again under the same id; to finish it, send the same request with a new requestId (every step is idempotent)` }
    : {};
  return json(started ? 202 : 200, started ? { requestId: request.requestId, kind, status: request.status, startedAt: request.startedAt, location } : { ...request, ...hint, location }, { location });
};

const status = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  const caller = callerOf(event);
  const requestId = event.pathParameters?.requestId ?? '';
  if (!REQUEST_ID_PATTERN.test(requestId)) throw invalid('requestId', 'must be 1-80 characters of letters, digits, _ and -');
  return json(200, readableRequest(caller, requestId, await findRequest(deps.executions, requestId), apiPolicyOf(deps.config)));
};

/** The audit listing: filters, time range, cursor pagination. */
const auditList = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  authorizeAudit(callerOf(event), apiPolicyOf(deps.config));
  const q = queryOf(event, ['dbUser', 'principalArn', 'target', 'status', 'from', 'to', 'limit', 'cursor']);
  return json(200, await listAudit({ archive: deps.archive, executions: deps.executions }, auditFilterOf(q), limitOf(q.limit), q.cursor));
};

/** Step Functions while it has the execution, the archive after: the same document either way. */
const auditOne = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  authorizeAudit(callerOf(event), apiPolicyOf(deps.config));
  const requestId = event.pathParameters?.requestId ?? '';
  if (!REQUEST_ID_PATTERN.test(requestId)) throw invalid('requestId', 'must be 1-80 characters of letters, digits, _ and -');
  for (const kind of REQUEST_KINDS) {
    const live = await readExecution(deps.executions.sfn, kind, deps.executions.stateMachines[kind], requestId);
    if (live) return json(200, auditRecordOf(live, 'stepfunctions'));
  }
  for (const kind of REQUEST_KINDS) {
    const archived = await readArchive(deps.archive, kind, requestId);
    if (archived) return json(200, auditRecordOf(archived, 'archive'));
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
  const targets = q.target !== undefined ? [resolveTargetConfig(deps.config, q.target)] : Object.keys(deps.config.targets).sort().map((n) => resolveTargetConfig(deps.config, n));
  const principal = q.principalArn !== undefined ? parsePrincipalArn(q.principalArn) : undefined;
  const policies = await listGrantPolicies(deps.plan.iam);
  const reviews: TargetReview[] = [];
  for (const target of targets) {
    const db = await describeTarget(deps.plan.rds(target.region), target);
    const grants = grantsOnTarget(policies, db);
    const database = await deps.plan.database.review({ target, db }, [...new Set(grants.map((g) => g.dbUser))].sort());
    reviews.push(reviewTarget(target, db, database, grants, principal));
  }
  const review = accessReview(reviews, { ...(q.target ? { target: q.target } : {}), ...(principal ? { principalArn: principal.arn } : {}) });
  if (/\btext\/csv\b/i.test(event.headers?.accept ?? '')) {
    return { statusCode: 200, headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="access-review.csv"' }, body: accessReviewCsv(review) };
  }
  return json(200, review);
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
      case 'GET /audit':
        return await auditList(event, deps);
      case 'GET /audit/{requestId}':
        return await auditOne(event, deps);
      case 'GET /grants':
        return await grantsReview(event, deps);
      default:
        throw routeNotFound(event);
    }
  } catch (e) {
    if (e instanceof ProvisioningError) {
      logger.warn('request refused', { route: event.routeKey, error: e.code, errorMessage: e.message, caller: event.requestContext?.authorizer?.iam?.userArn });
      return errorResult(e);
    }
    logger.error('request failed unexpectedly', e as Error);
    return json(500, { error: 'InternalError', message: `internal error; the API logs have the details under request id ${event.requestContext?.requestId ?? 'unknown'}` });
  }
};
