import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { ensureDbUser } from './lib/sql/onboard';
import { dbUserSpecOf, type OnboardState } from './lib/steps';

/** Step 4: create (or bring to the requested state) the IAM-authenticated database user. */
export const handler = stepHandler('CreateDbUser', async (state: OnboardState) => {
  const result = await withTargetAdmin(state.target, state.db, (client) => ensureDbUser(client, dbUserSpecOf(state)));
  return { ...result, statements: result.statements.map((s) => s.purpose) };
});
