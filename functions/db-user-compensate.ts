import { withStepLease } from './lib/workflows/db-user-lease';
import { withTargetAdmin } from './lib/postgres/admin-session';
import { stepHandler } from './lib/core/logger';
import { dropRoleCreatedBy } from './lib/postgres/compensate';
import { sessionsEndedOn } from './lib/postgres/watchdog';
import { verifyOnboardState } from './lib/workflows/step-input';
import type { OnboardState } from './lib/workflows/steps';

/** On failure after the user was created: remove it again if (and only if) this request created it. */
export const handler = stepHandler('CompensateDbUser', async (input: OnboardState) => {
  const state = await verifyOnboardState(input);
  const { request, target, db } = state;
  // An offboarding took the user over before this onboarding granted anything (LeasePreempted): the user is its to
  // remove, and may since be another onboarding's. Dropping it here could take a later user away; keeping it keeps no
  // access, as nothing was granted.
  if (input.error?.Error === 'LeasePreempted')
    return { dbUser: request.dbUser, outcome: 'kept: taken over by an offboarding' as const, statements: [], blockersEnded: 0 };
  return withStepLease(
    state,
    'onboarding',
    true,
    () =>
      withTargetAdmin(target, db, async (client) => {
        const result = await dropRoleCreatedBy(client, request.dbUser, request.requestId);
        return { dbUser: request.dbUser, outcome: result.outcome, statements: result.statements.map((s) => s.purpose), blockersEnded: sessionsEndedOn(client) };
      }),
    undefined,
    // Undoing itself is what a preempted onboarding still may do.
    'compensate',
  );
});
