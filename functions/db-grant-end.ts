import { recordDepsFromEnv } from './lib/access/deps';
import { endSubject } from './lib/access/end-target';
import { stepHandler } from './lib/core/logger';
import { METRIC } from './lib/core/metrics';
import { withTargetAdmin } from './lib/postgres/admin-session';
import { endGrant } from './lib/postgres/grant-end';
import { protectedNamesOf } from './lib/workflows/steps';

/** EndInDatabase: what the ending grant gave and nothing else covers, revoked; every session of the user ended. */
export const handler = stepHandler(
  'EndInDatabase',
  async (input: { requestId: string }) => {
    const { state, target, db } = await endSubject(recordDepsFromEnv(), input.requestId);
    const proof = await withTargetAdmin(target, db, (client) =>
      endGrant(client, {
        dbUser: state.dbUser,
        revokeRoles: state.plan.revokeRoles,
        revokeDatabases: state.plan.revokeDatabases,
        blockLogin: state.plan.blockLogin,
        protectedNames: protectedNamesOf(target, db),
      }),
    );
    return { ...proof, target: state.target, statements: proof.statements.map((s) => s.sql), keptFor: state.plan.keptFor };
  },
  (out) => [{ name: METRIC.sessionsTerminated, unit: 'Count', value: out.sessionsTerminated, dimensions: { target: out.target } }],
);
