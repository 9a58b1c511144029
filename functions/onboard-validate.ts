import { loadConfig } from './lib/config';
import { stepHandler } from './lib/logger';
import { validateOnboardRequest } from './lib/requests';

/** Step 1: refuse bad input before anything is touched; attach the target's configuration. */
export const handler = stepHandler('Validate', async (input: unknown) => validateOnboardRequest(input, loadConfig()));
