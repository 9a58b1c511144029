import { loadConfig } from './lib/config';
import { stepHandler } from './lib/logger';
import { validateOffboardRequest } from './lib/requests';

/** Offboarding step 1: refuse bad input and protected names before anything is touched. */
export const handler = stepHandler('ValidateOffboard', async (input: unknown) => validateOffboardRequest(input, loadConfig()));
