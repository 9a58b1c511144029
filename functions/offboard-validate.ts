import { loadConfig } from './lib/config';
import { stepHandler } from './lib/logger';
import { validateOffboardRequest } from './lib/requests';

/** ValidateOffboard (the first state): refuse bad input and protected names before anything is touched. */
export const handler = stepHandler('ValidateOffboard', async (input: unknown) => validateOffboardRequest(input, loadConfig()));
