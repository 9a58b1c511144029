import { iamClient } from './lib/clients';
import { loadConfig } from './lib/config';
import { principalIdOf } from './lib/iam/principal-id';
import { stepHandler } from './lib/logger';
import { validateOnboardRequest } from './lib/requests';

/**
 * Step 1: refuse bad input before anything is touched; attach the target's configuration and the
 * principal's unique id (read from IAM, never taken from input), recorded with the database user.
 */
export const handler = stepHandler('Validate', async (input: unknown) => {
  const { request, target } = validateOnboardRequest(input, loadConfig());
  return { request: { ...request, principalId: await principalIdOf(iamClient(), request.principal) }, target };
});
