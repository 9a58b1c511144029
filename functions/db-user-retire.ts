import { targetAdmin } from './lib/admin-session';
import { stepHandler } from './lib/logger';
import { dropManagedRole, ensureAdminPrivilegesOf, listDatabases, reassignOwnedHere } from './lib/sql/offboard';
import { readRoleState } from './lib/sql/onboard';
import { type EndedSession, sessionsEndedOn } from './lib/sql/watchdog';
import { verifyOffboardState } from './lib/step-input';
import type { OffboardState } from './lib/steps';

/**
 * Offboarding steps 5-6: in every database, REASSIGN OWNED to the successor then DROP OWNED,
 * then DROP ROLE. One connection per database: the admin database's connection does the
 * cluster-wide work and its own database; each other database gets one, closed before the next.
 */
export const handler = stepHandler('RetireDbUser', async (input: OffboardState) => {
  const { request, target, db } = await verifyOffboardState(input);
  const { dbUser } = request;
  const successor = target.successorRole;
  const connect = await targetAdmin(target, db);
  return connect(target.adminDatabase, async (admin) => {
    const reassigned: Record<string, number> = {};
    const blockersEnded: EndedSession[] = [];
    let granted: Awaited<ReturnType<typeof ensureAdminPrivilegesOf>> = [];
    // Gone already (a retry after DROP ROLE committed): nothing to reassign.
    if (await readRoleState(admin, dbUser)) {
      granted = [...(await ensureAdminPrivilegesOf(admin, dbUser)), ...(await ensureAdminPrivilegesOf(admin, successor))];
      for (const database of await listDatabases(admin)) {
        reassigned[database] =
          database === target.adminDatabase
            ? await reassignOwnedHere(admin, dbUser, successor)
            : await connect(database, async (client) => {
                const owned = await reassignOwnedHere(client, dbUser, successor);
                blockersEnded.push(...sessionsEndedOn(client));
                return owned;
              });
      }
    }
    const drop = await dropManagedRole(admin, dbUser);
    blockersEnded.push(...sessionsEndedOn(admin));
    return { dbUser, successor, reassigned, ...drop, statements: [...granted, ...drop.statements].map((s) => s.purpose), blockersEnded };
  });
});
