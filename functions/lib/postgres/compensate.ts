import type { Client } from 'pg';
import { ddl, parseRoleComment, type SqlStep } from './ddl';
import { inTransaction } from './connection';
import { DATABASES_GRANTING } from './queries';
import { toProvisioningError } from './sqlstate';
import { lockProjectKey } from './watchdog';
import { isManaged, lockKey, readRoleState } from './roles';

export type CompensationOutcome = 'dropped' | 'absent' | 'kept: not created by this request' | 'kept: not managed' | 'kept: taken over by an offboarding';

/**
 * Undoes an onboarding that failed after the database user was created: drops the role only
 * when it carries the marker AND its comment names this request as its creator, so a role an
 * earlier request created, or one nobody here created, is never dropped.
 */
export const dropRoleCreatedBy = async (
  client: Client,
  dbUser: string,
  requestId: string,
): Promise<{ outcome: CompensationOutcome; statements: SqlStep[] }> => {
  try {
    return await inTransaction(client, async () => {
      await lockProjectKey(client, lockKey.role(dbUser));
      const role = await readRoleState(client, dbUser);
      if (!role) return { outcome: 'absent' as const, statements: [] };
      if (!isManaged(role)) return { outcome: 'kept: not managed' as const, statements: [] };
      if (parseRoleComment(role.comment)?.createdBy !== requestId) return { outcome: 'kept: not created by this request' as const, statements: [] };
      const { rows } = await client.query<{ name: string }>(DATABASES_GRANTING, [dbUser]);
      for (const r of rows) await lockProjectKey(client, lockKey.database(r.name));
      // Database-level grants are dependencies DROP ROLE refuses; a new role owns nothing else.
      const statements = [...rows.map((r) => ddl.revokeConnect(r.name, dbUser)), ddl.dropRole(dbUser)];
      for (const s of statements) await client.query(s.sql);
      return { outcome: 'dropped' as const, statements };
    });
  } catch (e) {
    throw toProvisioningError(e, `roll back database user "${dbUser}"`);
  }
};
