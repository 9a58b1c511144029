import { loadConfig } from './lib/core/config';
import { stepHandler } from './lib/core/logger';
import { validateOffboardRequest } from './lib/core/requests';

/** ValidateOffboard (the first state): refuse bad input and protected names before anything is touched. */
export const handler = stepHandler('ValidateOffboard', async (input: unknown) => validateOffboardRequest(input, loadConfig()));
