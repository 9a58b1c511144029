import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { arnParts } from './lib/core/arn';
import { lambdaDatabasePlanner } from './lib/api/plan-client';
import { dynamoClient, iamClient, identitystoreClient, lambdaClient, rdsClient, secretsClient, sfnClient } from './lib/core/clients';
import { loadConfig } from './lib/core/config';
import { requiredEnv, stateMachinesFromEnv } from './lib/core/env';
import { identityStoreDirectory, oktaDirectory } from './lib/idp/directory';
import { handleIdentityEvent, type IdpDeps } from './lib/idp/handle';
import { stepHandler } from './lib/core/logger';

let deps: IdpDeps | undefined;
const idpDeps = (): IdpDeps => {
  if (deps) return deps;
  const config = loadConfig();
  const idp = config.idp;
  const store = idp?.identityStoreId
    ? identityStoreDirectory(identitystoreClient(idp.identityStoreRegion ?? process.env.AWS_REGION ?? 'us-east-1'), idp.identityStoreId)
    : undefined;
  let token: Promise<string> | undefined;
  const okta = idp?.okta;
  // Read once per container: the SSWS API token, the secret's string.
  const oktaToken = async (): Promise<string> => {
    if (!okta) throw new Error('no Okta API configured');
    token ??= secretsClient(arnParts(okta.apiTokenSecretArn).region)
      .send(new GetSecretValueCommand({ SecretId: okta.apiTokenSecretArn }))
      .then((s) => s.SecretString ?? '');
    // A failed read is not kept: the next event tries again.
    return token.catch((e: unknown) => {
      token = undefined;
      throw e;
    });
  };
  const oktaPeople = okta ? oktaDirectory(okta.orgUrl, oktaToken) : undefined;
  return (deps = {
    config,
    executions: { sfn: sfnClient(), stateMachines: stateMachinesFromEnv() },
    // Events say what changed; the provider's directory says what is true now (and counts every group).
    directoryFor: (change) =>
      change.source === 'okta' ? oktaPeople : change.source === 'identity-center' || change.source === 'identity-store' ? store : undefined,
    iam: iamClient(),
    rds: rdsClient,
    database: lambdaDatabasePlanner(lambdaClient(), requiredEnv('DB_PLAN_FUNCTION')),
    coalesce: { ddb: dynamoClient(), table: requiredEnv('GRANT_LOCK_TABLE') },
  });
};

/** Identity-provider events (EventBridge) to onboarding / offboarding executions. */
export const handler = stepHandler('IdentityEvent', async (event: unknown) => handleIdentityEvent(idpDeps(), event));
