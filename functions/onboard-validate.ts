import { iamClient } from './lib/core/clients';
import { loadConfig } from './lib/core/config';
import { grantablePrincipalId } from './lib/iam/principal-id';
import { stepHandler } from './lib/core/logger';
import { validateOnboardRequest } from './lib/core/requests';

/**
 * Validate (the first state): refuse bad input before anything is touched; attach the target's configuration and the
 * principal's unique id (read from IAM, never taken from input), recorded with the database user.
 * A principal outside iam.grantablePrincipals is refused here, before the database user exists.
 */
export const handler = stepHandler('Validate', async (input: unknown) => {
  const config = loadConfig();
  const { request, target } = validateOnboardRequest(input, config);
  return { request: { ...request, principalId: await grantablePrincipalId(iamClient(), request.principal, config.iam.grantablePrincipals) }, target };
});
