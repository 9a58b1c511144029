import type { Config } from '../config';
import { invalid, ProvisioningError } from '../errors';
import { logger } from '../logger';
import { type PlanDeps, planOffboardingRequest, planOnboardingRequest } from '../plan/request-plan';
import { REQUEST_ID_PATTERN, validateOffboardRequest, validateOnboardRequest } from '../requests';
import { authorize } from './authorization';
import { type Caller, callerOf } from './caller';
import { type ExecutionsDeps, getRequest, type RequestKind, startRequest } from './executions';
import { dryRunOf, errorResult, type HttpEvent, type HttpResult, json, jsonBody, routeNotFound } from './http';

export interface ApiDeps {
  config: Config;
  executions: ExecutionsDeps;
  plan: PlanDeps;
  newRequestId: () => string;
}

/** The routes of the API (DESIGN.md), as API Gateway names them in `routeKey`. */
export const ROUTES = ['POST /access-requests', 'POST /revocations', 'GET /requests/{requestId}'] as const;

/**
 * The execution input of a request: the validated request in canonical form (defaults filled,
 * roles de-duplicated), so a replay compares equal to the original whatever the client omitted.
 */
const onboardingInput = (body: Record<string, unknown>, requestId: string, caller: Caller, config: Config) => {
  const validated = validateOnboardRequest({ ...body, requestId, requestedBy: caller.arn }, config);
  const { request, target } = validated;
  return {
    plan: (deps: PlanDeps) => planOnboardingRequest(deps, validated),
    question: { action: 'request access' as const, principal: request.principal, dbUser: request.dbUser },
    input: {
      requestId,
      principalArn: request.principal.arn,
      dbUser: request.dbUser,
      target: target.name,
      dbRoles: request.dbRoles,
      databases: request.databases,
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      requestedBy: caller.arn,
    },
  };
};

const offboardingInput = (body: Record<string, unknown>, requestId: string, caller: Caller, config: Config) => {
  const validated = validateOffboardRequest({ ...body, requestId, requestedBy: caller.arn }, config);
  const { request, target } = validated;
  return {
    plan: (deps: PlanDeps) => planOffboardingRequest(deps, validated),
    question: { action: 'revoke access' as const, principal: request.principal, dbUser: request.dbUser },
    input: {
      requestId,
      dbUser: request.dbUser,
      target: target.name,
      ...(request.principal ? { principalArn: request.principal.arn } : {}),
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      requestedBy: caller.arn,
    },
  };
};

const submit = async (event: HttpEvent, deps: ApiDeps, kind: RequestKind): Promise<HttpResult> => {
  const caller = callerOf(event);
  const dryRun = dryRunOf(event);
  const body = jsonBody(event);
  // The caller is who SigV4 says it is, never what the body claims.
  if (Object.hasOwn(body, 'requestedBy')) throw invalid('requestedBy', "is not accepted: it is the caller's IAM identity");
  const requestId = body.requestId === undefined ? deps.newRequestId() : body.requestId;
  const { question, input, plan } = (kind === 'onboarding' ? onboardingInput : offboardingInput)(body, requestId as string, caller, deps.config);
  authorize(caller, question, deps.config.api);

  if (dryRun) return json(200, await plan(deps.plan));
  const { started, request } = await startRequest(deps.executions, kind, input);
  logger.info(started ? 'request started' : 'request replayed', { requestId: request.requestId, kind, requestedBy: caller.arn });
  const location = `/requests/${encodeURIComponent(request.requestId)}`;
  return json(started ? 202 : 200, started ? { requestId: request.requestId, kind, status: request.status, startedAt: request.startedAt, location } : { ...request, location }, { location });
};

const status = async (event: HttpEvent, deps: ApiDeps): Promise<HttpResult> => {
  callerOf(event);
  const requestId = event.pathParameters?.requestId ?? '';
  if (!REQUEST_ID_PATTERN.test(requestId)) throw invalid('requestId', 'must be 1-80 characters of letters, digits, _ and -');
  return json(200, await getRequest(deps.executions, requestId));
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
