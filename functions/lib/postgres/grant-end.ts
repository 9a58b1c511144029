import type { Client } from 'pg';
import { ProvisioningError } from '../core/errors';
import { GRANTOR_ROLE, MARKER_ROLE, type ProtectedNames, RDS_IAM_ROLE } from '../core/identifiers';
import { inTransaction } from './connection';
import { batchOf, ddl, offboardDdl, type SqlStep } from './ddl';
import { assertNotProtected, versionOf } from './offboard';
import { CLOCK_TIMESTAMP, DATABASE_CONNECT_STATE, MEMBERSHIP_GRANTORS, SESSIONS_BEGUN_BY, TERMINATE_SESSIONS } from './queries';
import { toProvisioningError } from './sqlstate';
import { lockProjectKey } from './watchdog';
import { isManaged, lockKey, type MembershipGrant, membershipRevokes, readRoleState } from './roles';

/** What the end of one time-bound grant takes away in the database: only what no other live grant still covers. */
export interface GrantEndSpec {
  dbUser: string;
  /** Group roles the grant gave that nothing else covers (workflows/grant-end-plan.ts decides). */
  revokeRoles: string[];
  /** Databases whose CONNECT the grant gave that nothing else covers. */
  revokeDatabases: string[];
  /** Nothing else grants this user access: NOLOGIN. */
  blockLogin: boolean;
  protectedNames: ProtectedNames;
}

/** The record that the access ended, checked after the fact (not what was intended: what the catalog says now). */
export interface GrantEndProof {
  dbUser: string;
  found: boolean;
  statements: SqlStep[];
  sessionsTerminated: number;
  /** The server's clock when the sessions were ended: every session begun before it is gone. */
  endedAt: string;
  verified: {
    /** Sessions of the user begun before endedAt: always 0 in a proof (otherwise the step fails and is retried). */
    sessionsLeft: number;
    /** Of the revoked roles, those the user still holds: always empty in a proof. */
    rolesLeft: string[];
    /** Of the revoked databases, those where the user still holds CONNECT of its own: always empty in a proof. */
    connectLeft: string[];
    canLogin: boolean;
  };
}

/** Roles an end never takes: the project's own and rds_iam (an end takes access away by NOLOGIN, not by IAM auth). */
const NEVER_REVOKED = new Set([MARKER_ROLE, GRANTOR_ROLE, RDS_IAM_ROLE]);

/**
 * Ends a grant in the database, in the order that leaves no gap: the revokes and NOLOGIN committed first (no new
 * session gets the roles), then every session of the user ended (a session that ran SET ROLE keeps acting as the
 * role after a REVOKE; only ending it takes the role away), then the catalog read again for the proof. A step that
 * finds a session begun before the end still there, or a role still held, fails as transient and is retried: an end
 * is never recorded that did not happen. Ownership is not asked: taking access away from a user is never what an
 * attacker gains, and an end that refused would leave the access in place.
 */
export const endGrant = async (client: Client, spec: GrantEndSpec): Promise<GrantEndProof> => {
  const { dbUser } = spec;
  try {
    await assertNotProtected(client, dbUser, spec.protectedNames);
    const revokeRoles = spec.revokeRoles.filter((r) => !NEVER_REVOKED.has(r));
    const changed = await inTransaction(client, async () => {
      await lockProjectKey(client, lockKey.role(dbUser));
      const role = await readRoleState(client, dbUser);
      if (!role) return undefined;
      if (!isManaged(role)) {
        throw new ProvisioningError(
          'UnmanagedRoleConflict',
          `database role "${dbUser}" was not created by this project (it is not a member of ${MARKER_ROLE}); its access is not ended here`,
          { details: { field: 'dbUser' } },
        );
      }
      const held = revokeRoles.filter((r) => role.memberOf.includes(r));
      const grantors = held.length ? (await client.query<MembershipGrant>(MEMBERSHIP_GRANTORS, [dbUser])).rows : [];
      const connects = (await client.query<{ name: string; user_has_connect: boolean }>(DATABASE_CONNECT_STATE, [spec.revokeDatabases, dbUser])).rows
        .filter((d) => d.user_has_connect)
        .map((d) => d.name)
        .sort();
      for (const db of connects) await lockProjectKey(client, lockKey.database(db));
      const steps = [
        ...(spec.blockLogin && role.canLogin ? [offboardDdl.blockLogin(dbUser)] : []),
        ...held.flatMap((r) => membershipRevokes(r, dbUser, grantors)),
        ...connects.map((db) => ddl.revokeConnectPrivilege(db, dbUser)),
      ];
      if (steps.length) await client.query(batchOf(steps));
      return { steps };
    });
    const { rows: clock } = await client.query<{ now: Date }>(CLOCK_TIMESTAMP);
    const endedAt = clock[0].now;
    if (!changed) {
      return { dbUser, found: false, statements: [], sessionsTerminated: 0, endedAt: endedAt.toISOString(), verified: noneLeft(false) };
    }
    const { rows } = await client.query<{ terminated: number }>(TERMINATE_SESSIONS(await versionOf(client)), [dbUser]);
    const verified = await verify(client, spec, revokeRoles, endedAt);
    const problems = [
      ...(verified.sessionsLeft > 0 ? [`${verified.sessionsLeft} session(s) begun before the end are still open`] : []),
      ...(verified.rolesLeft.length ? [`it still holds ${verified.rolesLeft.join(', ')}`] : []),
      ...(verified.connectLeft.length ? [`it still holds CONNECT on ${verified.connectLeft.join(', ')}`] : []),
      ...(spec.blockLogin && verified.canLogin ? ['it can still log in'] : []),
    ];
    if (problems.length)
      throw new ProvisioningError('TransientDatabaseError', `the end of "${dbUser}"'s grant is not complete: ${problems.join('; ')}; retrying`);
    return { dbUser, found: true, statements: changed.steps, sessionsTerminated: rows[0].terminated, endedAt: endedAt.toISOString(), verified };
  } catch (e) {
    throw toProvisioningError(e, `end the grant of database user "${dbUser}"`);
  }
};

const noneLeft = (canLogin: boolean): GrantEndProof['verified'] => ({ sessionsLeft: 0, rolesLeft: [], connectLeft: [], canLogin });

const verify = async (client: Client, spec: GrantEndSpec, revokeRoles: string[], endedAt: Date): Promise<GrantEndProof['verified']> => {
  const role = await readRoleState(client, spec.dbUser);
  if (!role) return noneLeft(false);
  const sessionsLeft = (await client.query<{ n: number }>(SESSIONS_BEGUN_BY, [spec.dbUser, endedAt])).rows[0].n;
  const connectLeft = (await client.query<{ name: string; user_has_connect: boolean }>(DATABASE_CONNECT_STATE, [spec.revokeDatabases, spec.dbUser])).rows
    .filter((d) => d.user_has_connect)
    .map((d) => d.name);
  return { sessionsLeft, rolesLeft: revokeRoles.filter((r) => role.memberOf.includes(r)), connectLeft, canLogin: role.canLogin };
};
