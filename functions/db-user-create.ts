import { withStepLease } from './lib/db-user-lease';
import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { ensureDbUser } from './lib/sql/onboard';
import { sessionsEndedOn } from './lib/sql/watchdog';
import { verifyOnboardState } from './lib/step-input';
import { taskTokenConsumer } from './lib/task-token';
import { dbUserSpecOf, type OnboardState } from './lib/steps';

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

/** What is deployed: the same step, run by the limiter's queue (functions/lib/task-token.ts). */
export const queueHandler = taskTokenConsumer(handler);
