import { withTargetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { readRoleState } from './lib/sql/onboard';
import { dropManagedRole, ensureAdminPrivilegesOf, listDatabases, reassignOwnedHere } from './lib/sql/offboard';
import type { OffboardState } from './lib/steps';

/**
 * Offboarding steps 5-6: in every database, REASSIGN OWNED to the successor then DROP OWNED
 * (one connection per database, each closed before the next), then DROP ROLE.
 */
export const handler = stepHandler('RetireDbUser', async ({ request, target, db }: OffboardState) => {
  const { dbUser } = request;
  const successor = target.successorRole;
  const { databases, granted } = await withTargetAdmin(target, db, async (client) =>
    // Gone already (a retry after DROP ROLE committed): nothing to reassign.
    (await readRoleState(client, dbUser))
      ? { granted: [...(await ensureAdminPrivilegesOf(client, dbUser)), ...(await ensureAdminPrivilegesOf(client, successor))], databases: await listDatabases(client) }
      : { granted: [], databases: [] },
  );
  const reassigned: Record<string, number> = {};
  for (const database of databases) {
    reassigned[database] = await withTargetAdmin(target, db, (client) => reassignOwnedHere(client, dbUser, successor), database);
  }
  const drop = await withTargetAdmin(target, db, (client) => dropManagedRole(client, dbUser));
  return {
    dbUser,
    successor,
    reassigned,
    ...drop,
    statements: [...granted, ...drop.statements].map((s) => s.purpose),
  };
});
