import { randomUUID } from 'node:crypto';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { lambdaDatabasePlanner } from './lib/api/plan-client';
import { type ApiDeps, handleApiEvent } from './lib/api/routes';
import type { HttpEvent, HttpResult } from './lib/api/http';
import type { AccessRequestDeps } from './lib/api/access-requests';
import { endExecutionName } from './lib/access/lifecycle';
import { activationExecutionName, startNamedExecution } from './lib/access/start';
import { dynamoAccessRequestStore } from './lib/access/store';
import { dynamoClient, iamClient, lambdaClient, rdsClient, s3Client, sfnClient } from './lib/core/clients';
import { requiredEnv, stateMachinesFromEnv } from './lib/core/env';
import { loadConfig } from './lib/core/config';
import { logger } from './lib/core/logger';

/**
 * Requests under approval policies, when the stack has their table: the approval's winner starts the activation (which
 * schedules itself for a startAt in the future), a revoke's winner starts the end. Only StartExecution here: the
 * schedules, events and notifications are the lifecycle functions' (the api's bundle stays small).
 */
export const accessRequestsFromEnv = (env: NodeJS.ProcessEnv = process.env): AccessRequestDeps | undefined => {
  const table = env.ACCESS_REQUESTS_TABLE;
  if (!table) return undefined;
  return {
    store: dynamoAccessRequestStore(dynamoClient(), table),
    now: () => new Date(),
    onApproved: async (request) =>
      startNamedExecution(requiredEnv('ACTIVATE_STATE_MACHINE_ARN', env), activationExecutionName(request), {
        requestId: request.requestId,
        target: request.plan.target,
      }),
    // Published by the lifecycle's function, invoked asynchronously: the api carries no EventBridge or SNS client.
    onChanged: async (request, event) => {
      await lambdaClient().send(
        new InvokeCommand({
          FunctionName: requiredEnv('ACCESS_RECORD_FUNCTION', env),
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify({ step: 'Notify', requestId: request.requestId, event })),
        }),
      );
    },
    onEnding: async (request) =>
      startNamedExecution(requiredEnv('END_STATE_MACHINE_ARN', env), endExecutionName(request), {
        requestId: request.requestId,
        reason: request.endReason ?? 'REVOKED',
      }),
  };
};

let deps: ApiDeps | undefined;
const apiDeps = (): ApiDeps => {
  if (deps) return deps;
  const config = loadConfig();
  return (deps = {
    config,
    executions: { sfn: sfnClient(), stateMachines: stateMachinesFromEnv() },
    plan: { rds: rdsClient, iam: iamClient(), limits: config.iam, database: lambdaDatabasePlanner(lambdaClient(), requiredEnv('DB_PLAN_FUNCTION')) },
    archive: { s3: s3Client(), bucket: requiredEnv('ARCHIVE_BUCKET') },
    newRequestId: () => `req-${randomUUID()}`,
    accessRequests: accessRequestsFromEnv(),
  });
};

/** The HTTP API (payload format 2.0, IAM authorization on every route). */
export const handler = async (event: HttpEvent): Promise<HttpResult> => {
  logger.resetKeys();
  logger.appendKeys({ route: event.routeKey, apiRequestId: event.requestContext?.requestId });
  return handleApiEvent(event, apiDeps());
};
