import { randomUUID } from 'node:crypto';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { lambdaDatabasePlanner } from './lib/api/plan-client';
import { type ApiDeps, handleApiEvent } from './lib/api/routes';
import type { HttpEvent, HttpResult } from './lib/api/http';
import { iamClient, rdsClient } from './lib/clients';
import { loadConfig } from './lib/config';
import { logger } from './lib/logger';

const required = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

let deps: ApiDeps | undefined;
const apiDeps = (): ApiDeps => {
  if (deps) return deps;
  const config = loadConfig();
  return (deps = {
    config,
    executions: { sfn: new SFNClient({}), stateMachines: { onboarding: required('ONBOARD_STATE_MACHINE_ARN'), offboarding: required('OFFBOARD_STATE_MACHINE_ARN') } },
    plan: { rds: rdsClient, iam: iamClient(), limits: config.iam, database: lambdaDatabasePlanner(new LambdaClient({}), required('DB_PLAN_FUNCTION')) },
    newRequestId: () => `req-${randomUUID()}`,
  });
};

/** The HTTP API (payload format 2.0, IAM authorization on every route). */
export const handler = async (event: HttpEvent): Promise<HttpResult> => {
  logger.resetKeys();
  logger.appendKeys({ route: event.routeKey, apiRequestId: event.requestContext?.requestId });
  return handleApiEvent(event, apiDeps());
};
