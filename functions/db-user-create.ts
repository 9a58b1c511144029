import { withStepLease } from './lib/workflows/db-user-lease';
import { withTargetAdmin } from './lib/postgres/admin-session';
import { stepHandler } from './lib/core/logger';
import { ensureDbUser } from './lib/postgres/onboard';
import { sessionsEndedOn } from './lib/postgres/watchdog';
import { verifyOnboardState } from './lib/workflows/step-input';
import { taskTokenConsumer } from './lib/core/task-token';
import { dbUserSpecOf, type OnboardState } from './lib/workflows/steps';

/** Create (or bring to the requested state) the IAM-authenticated database user. */
export const handler = stepHandler('CreateDbUser', async (input: OnboardState) => {
  const state = await verifyOnboardState(input);
  // Held until AllowConnect (or CompensateDbUser): an offboarding of this user waits for the whole onboarding.
  return withStepLease(state, 'onboarding', false, () =>
    withTargetAdmin(state.target, state.db, async (client) => {
      const result = await ensureDbUser(client, dbUserSpecOf(state));
      return { ...result, statements: result.statements.map((s) => s.purpose), blockersEnded: sessionsEndedOn(client) };
    }),
  );
});

/** What is deployed: the same step, run by the limiter's queue (functions/lib/core/task-token.ts). */
export const queueHandler = taskTokenConsumer(handler);
