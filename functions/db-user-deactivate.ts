import { withStepLease } from './lib/workflows/db-user-lease';
import { withTargetAdmin } from './lib/postgres/admin-session';
import { stepHandler } from './lib/core/logger';
import { METRIC } from './lib/core/metrics';
import { deactivateDbUser } from './lib/postgres/offboard';
import { sessionsEndedOn } from './lib/postgres/watchdog';
import { verifyOffboardState } from './lib/workflows/step-input';
import { type OffboardState, protectedNamesOf } from './lib/workflows/steps';

/** NOLOGIN (committed on its own), then end the user's sessions. */
export const handler = stepHandler(
  'DeactivateDbUser',
  async (input: OffboardState) => {
    const state = await verifyOffboardState(input);
    const { request, target, db } = state;
    // Held until RetireDbUser: an onboarding of this user waits for the whole offboarding.
    return withStepLease(state, 'offboarding', false, () =>
      withTargetAdmin(target, db, async (client) => {
        const result = await deactivateDbUser(client, request.dbUser, protectedNamesOf(target, db), request.requireOwner, request.idpUser);
        return { ...result, statements: result.statements.map((s) => s.purpose), blockersEnded: sessionsEndedOn(client) };
      }),
    );
  },
  (out, input) => [{ name: METRIC.sessionsTerminated, unit: 'Count', value: out.sessionsTerminated, dimensions: { target: input.target.name } }],
);
