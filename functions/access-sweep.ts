import { lifecycleDepsFromEnv } from './lib/access/deps';
import { sweep } from './lib/access/sweep';
import { stepHandler } from './lib/core/logger';

/** The sweeper (an EventBridge schedule, every 5 minutes): ends, activations and expiries a lost schedule missed. */
export const handler = stepHandler('AccessSweep', async () => sweep(lifecycleDepsFromEnv()));
