import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { deactivateDbUser } from './lib/sql/offboard';
import { type OffboardState, protectedNamesOf } from './lib/steps';

/** Offboarding steps 2-3: NOLOGIN (committed on its own), then end the user's sessions. */
export const handler = stepHandler('DeactivateDbUser', async ({ request, target, db }: OffboardState) => {
  const result = await withTargetAdmin(target, db, (client) => deactivateDbUser(client, request.dbUser, protectedNamesOf(target, db), request.requireOwner, request.idpUser));
  return { ...result, statements: result.statements.map((s) => s.purpose) };
});
