import { iamClient, identitystoreClient, rdsClient, sfnClient } from './lib/clients';
import { loadConfig } from './lib/config';
import { stateMachinesFromEnv } from './lib/env';
import { identityStoreDirectory } from './lib/idp/directory';
import { handleIdentityEvent, type IdpDeps } from './lib/idp/handle';
import { stepHandler } from './lib/logger';

let deps: IdpDeps | undefined;
const idpDeps = (): IdpDeps => {
  if (deps) return deps;
  const config = loadConfig();
  const idp = config.idp;
  const store = idp?.identityStoreId
    ? identityStoreDirectory(identitystoreClient(idp.identityStoreRegion ?? process.env.AWS_REGION ?? 'us-east-1'), idp.identityStoreId)
    : undefined;
  return (deps = {
    config,
    executions: { sfn: sfnClient(), stateMachines: stateMachinesFromEnv() },
    // Identity Center's events carry ids: its identity store says who and in which groups. Okta's carry names.
    directoryFor: (change) => (change.source === 'identity-center' || change.source === 'identity-store' ? store : undefined),
    iam: iamClient(),
    rds: rdsClient,
  });
};

/** Identity-provider events (EventBridge) to onboarding / offboarding executions. */
export const handler = stepHandler('IdentityEvent', async (event: unknown) => handleIdentityEvent(idpDeps(), event));
