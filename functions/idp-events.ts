import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { arnParts } from './lib/core/arn';
import { lambdaDatabasePlanner } from './lib/api/plan-client';
import { dynamoClient, iamClient, identitystoreClient, lambdaClient, rdsClient, secretsClient, sfnClient } from './lib/core/clients';
import { loadConfig } from './lib/core/config';
import { requiredEnv, stateMachinesFromEnv } from './lib/core/env';
import { handleIdentityEvent, type IdpDeps } from './lib/idp/handle';
import { directories } from './lib/idp/providers';
import { stepHandler } from './lib/core/logger';
import { recordDepsFromEnv } from './lib/access/deps';
import { startNamedExecution } from './lib/access/start';

let deps: IdpDeps | undefined;
const idpDeps = (): IdpDeps => {
  if (deps) return deps;
  const config = loadConfig();
  return (deps = {
    config,
    executions: { sfn: sfnClient(), stateMachines: stateMachinesFromEnv() },
    // Events say what changed; the provider's directory says what is true now (and counts every group).
    directoryFor: directories(config.idp, {
      identitystore: identitystoreClient,
      secretString: async (secretArn) =>
        (await secretsClient(arnParts(secretArn).region).send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString ?? '',
      region: process.env.AWS_REGION,
    }),
    iam: iamClient(),
    rds: rdsClient,
    database: lambdaDatabasePlanner(lambdaClient(), requiredEnv('DB_PLAN_FUNCTION')),
    coalesce: { ddb: dynamoClient(), table: requiredEnv('GRANT_LOCK_TABLE') },
    // A person the provider removed: their access requests are cancelled or ended with them.
    ...(process.env.ACCESS_REQUESTS_TABLE
      ? {
          accessRequests: {
            ...recordDepsFromEnv(),
            startEnd: (name, input) => startNamedExecution(requiredEnv('END_STATE_MACHINE_ARN'), name, input),
          },
        }
      : {}),
  });
};

/** Identity-provider events (EventBridge) to onboarding / offboarding executions. */
export const handler = stepHandler('IdentityEvent', async (event: unknown) => handleIdentityEvent(idpDeps(), event));
