import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { ensureDbUser } from './lib/sql/onboard';
import type { OnboardState } from './lib/steps';

/** Step 4: create (or bring to the requested state) the IAM-authenticated database user. */
export const handler = stepHandler('CreateDbUser', async ({ request, target, db }: OnboardState) => {
  const result = await withTargetAdmin(target, db, (client) =>
    ensureDbUser(client, {
      dbUser: request.dbUser,
      requestId: request.requestId,
      principalArn: request.principal.arn,
      dbRoles: request.dbRoles,
      databases: request.databases,
      protectedNames: { masterUser: db.masterUser, successorRole: target.successorRole, extra: [...target.protectedRoles, ...target.allowedDbRoles] },
    }),
  );
  return { ...result, statements: result.statements.map((s) => s.purpose) };
});
