import { withStepLease } from './lib/workflows/db-user-lease';
import { targetAdmin } from './lib/postgres/admin-session';
import { logger, stepHandler } from './lib/core/logger';
import { METRIC } from './lib/core/metrics';
import { dropManagedRole, ensureAdminPrivilegesOf, listDatabases, reassignOwnedHere, versionOf } from './lib/postgres/offboard';
import { ensureQuarantineRole, type ObjectDecision } from './lib/postgres/reassign';
import { type EndedSession, sessionsEndedOn } from './lib/postgres/watchdog';
import { verifyOffboardState } from './lib/workflows/step-input';
import type { OffboardState } from './lib/workflows/steps';
import { readRoleState } from './lib/postgres/roles';

/** Step output stays far below Step Functions' 256 KB: past this many objects the list is cut (the log has them all). */
export const MAX_LISTED_OBJECTS = 500;

/**
 * RetireDbUser (workflows/offboarding-plan.ts has the order): in every database, quarantine what must not run with the successor's
 * rights, REASSIGN OWNED the rest to the successor, then DROP OWNED; then DROP ROLE. One connection
 * per database: the admin database's connection does the cluster-wide work and its own database;
 * each other database gets one, closed before the next.
 */
export const handler = stepHandler(
  'RetireDbUser',
  async (input: OffboardState) => {
    const state = await verifyOffboardState(input);
    const { request, target, db } = state;
    const { dbUser } = request;
    const successor = target.successorRole;
    const settings = target.reassignment;
    const connect = await targetAdmin(target, db);
    return withStepLease(state, 'offboarding', true, () =>
      connect(target.adminDatabase, async (admin) => {
        const reassigned: Record<string, number> = {};
        const objects: ObjectDecision[] = [];
        const blockersEnded: EndedSession[] = [];
        let granted: Awaited<ReturnType<typeof ensureAdminPrivilegesOf>> = [];
        // Gone already (a retry after DROP ROLE committed): nothing to reassign.
        if (await readRoleState(admin, dbUser)) {
          granted = [...(await ensureAdminPrivilegesOf(admin, dbUser)), ...(await ensureAdminPrivilegesOf(admin, successor))];
          if (settings.unsafeObjects === 'quarantine') granted.push(...(await ensureQuarantineRole(admin, settings.quarantineRole)));
          const versionNum = await versionOf(admin);
          for (const database of await listDatabases(admin)) {
            const place = { database, includeShared: database === target.adminDatabase, versionNum };
            const here =
              database === target.adminDatabase
                ? await reassignOwnedHere(admin, dbUser, successor, settings, place)
                : await connect(database, async (client) => {
                    const result = await reassignOwnedHere(client, dbUser, successor, settings, place);
                    blockersEnded.push(...sessionsEndedOn(client));
                    return result;
                  });
            reassigned[database] = here.owned;
            objects.push(...here.objects);
          }
        }
        const drop = await dropManagedRole(admin, dbUser);
        blockersEnded.push(...sessionsEndedOn(admin));
        // What did not simply go to the successor first: a cut list never hides a quarantined object.
        objects.sort((a, b) => Number(a.action === 'successor') - Number(b.action === 'successor'));
        if (objects.length > MAX_LISTED_OBJECTS) logger.info('every object decided', { objects });
        return {
          dbUser,
          successor,
          quarantineRole: settings.quarantineRole,
          reassigned,
          objects: objects.slice(0, MAX_LISTED_OBJECTS),
          ...(objects.length > MAX_LISTED_OBJECTS ? { objectsNotListed: objects.length - MAX_LISTED_OBJECTS } : {}),
          ...drop,
          statements: [...granted, ...drop.statements].map((s) => s.purpose),
          blockersEnded,
        };
      }),
    );
  },
  // What changed owner in every database (to the successor or the quarantine role): a retry that finds the user gone counts 0.
  (out, input) => [
    {
      name: METRIC.objectsReassigned,
      unit: 'Count',
      value: Object.values(out.reassigned).reduce((n, x) => n + x, 0),
      dimensions: { target: input.target.name },
    },
  ],
);
