import { withStepLease } from './lib/db-user-lease';
import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { dropRoleCreatedBy } from './lib/sql/compensate';
import { sessionsEndedOn } from './lib/sql/watchdog';
import { verifyOnboardState } from './lib/step-input';
import type { OnboardState } from './lib/steps';

/** On failure after the user was created: remove it again if (and only if) this request created it. */
export const handler = stepHandler('CompensateDbUser', async (input: OnboardState) => {
  const state = await verifyOnboardState(input);
  const { request, target, db } = state;
  return withStepLease(state, 'onboarding', true, () =>
    withTargetAdmin(target, db, async (client) => {
      const result = await dropRoleCreatedBy(client, request.dbUser, request.requestId);
      return { dbUser: request.dbUser, outcome: result.outcome, statements: result.statements.map((s) => s.purpose), blockersEnded: sessionsEndedOn(client) };
    }),
  );
});
