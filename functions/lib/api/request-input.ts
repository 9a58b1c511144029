import { parsePrincipalArn, type PrincipalArn } from '../core/arn';
import type { Config } from '../core/config';
import { defaultDbUser } from '../core/identifiers';
import { checkOnboardingRequest, type PlanDeps, planOffboardingRequest, planOnboardingRequest } from '../workflows/request-plan';
import { validateOffboardRequest, validateOnboardRequest } from '../core/requests';
import type { AccessQuestion } from './authorization';
import type { RequestKind } from '../core/executions';

/**
 * What the caller asks for, read from the raw body before anything else, so a caller that may not
 * ask learns nothing about the configuration. Missing or malformed fields are left to validation.
 */
export const questionOf = (kind: RequestKind, body: Record<string, unknown>): AccessQuestion => {
  let principal: PrincipalArn | undefined;
  if (body.principalArn !== undefined) principal = parsePrincipalArn(body.principalArn);
  const dbUser = typeof body.dbUser === 'string' ? body.dbUser : kind === 'onboarding' && principal ? defaultDbUser(principal.name) : undefined;
  return { action: kind === 'onboarding' ? 'request access' : 'revoke access', principal, dbUser };
};

const sortedUnique = (xs: string[]): string[] => [...new Set(xs)].sort();

/**
 * The execution input of a request: the validated request in canonical form (defaults filled,
 * lists sorted), so a replay compares equal to the original whatever the client omitted.
 * `requestedBy` and `retriedBy` are the API's (schema-checked), `idpUser` comes only from an
 * identity-provider run being retried (the API refuses it in a body).
 */
const whoOf = (fields: Record<string, unknown>, idpUser: string | undefined) => ({
  ...(idpUser !== undefined ? { idpUser } : {}),
  requestedBy: fields.requestedBy as string,
  ...(typeof fields.retriedBy === 'string' ? { retriedBy: fields.retriedBy } : {}),
});

export const onboardingInput = (fields: Record<string, unknown>, config: Config) => {
  const validated = validateOnboardRequest(fields, config);
  const { request, target } = validated;
  return {
    plan: (deps: PlanDeps) => planOnboardingRequest(deps, validated),
    accept: (deps: PlanDeps) => checkOnboardingRequest(deps, validated),
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
      ...whoOf(fields, request.idpUser),
    },
  };
};

const offboardingInput = (fields: Record<string, unknown>, config: Config) => {
  const validated = validateOffboardRequest(fields, config);
  const { request, target } = validated;
  return {
    plan: (deps: PlanDeps) => planOffboardingRequest(deps, validated),
    // A user that does not exist is an answer of the run ("not found", which still removes grants left for it), not a refusal.
    accept: async (_deps: PlanDeps): Promise<void> => undefined,
    input: {
      requestId: request.requestId,
      dbUser: request.dbUser,
      target: target.name,
      ...(request.principal ? { principalArn: request.principal.arn } : {}),
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      ...(request.requireOwner ? { requireOwner: request.requireOwner.arn } : {}),
      ...whoOf(fields, request.idpUser),
    },
  };
};

/**
 * The execution input of a request of this kind (validated against the configuration now), its dry run, and what the
 * real request must pass before it starts (read from the target: see acceptance.ts).
 */
export const requestInput = (kind: RequestKind, fields: Record<string, unknown>, config: Config) =>
  kind === 'onboarding' ? onboardingInput(fields, config) : offboardingInput(fields, config);
