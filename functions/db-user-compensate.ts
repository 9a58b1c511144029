import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { dropRoleCreatedBy } from './lib/sql/compensate';
import { verifyOnboardState } from './lib/step-input';
import type { OnboardState } from './lib/steps';

/** On failure after the user was created: remove it again if (and only if) this request created it. */
export const handler = stepHandler('CompensateDbUser', async (input: OnboardState) => {
  const { request, target, db } = await verifyOnboardState(input);
  const result = await withTargetAdmin(target, db, (client) => dropRoleCreatedBy(client, request.dbUser, request.requestId));
  return { dbUser: request.dbUser, outcome: result.outcome, statements: result.statements.map((s) => s.purpose) };
});
