import type { Client } from 'pg';
import { MARKER_ROLE } from '../core/identifiers';
import { EXISTING_ROLES, MANAGED_ROLES, PASSWORDS_SET } from './queries';
import { decideObjects, type ObjectDecision, readOwnedObjects } from './reassign';
import { SQLSTATE, sqlstateOf } from './sqlstate';

/**
 * The database half of the access review (run read-only in the VPC, like dry runs): every role
 * that carries this project's marker, with what an auditor needs to see drift, and which of the
 * names IAM grants point at exist at all.
 */
export interface ManagedRole {
  name: string;
  canLogin: boolean;
  superuser: boolean;
  /** CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS: none of which this project ever grants. */
  privileged: string[];
  memberOf: string[];
  comment: string | null;
  /** Null when the admin may not read pg_authid (RDS: nobody may; with rds_iam a password cannot log in anyway). */
  passwordSet: boolean | null;
}

export interface DatabaseReview {
  managed: ManagedRole[];
  /** Of the names asked about, those that exist as roles (managed or not). */
  existing: string[];
  /** What the target's quarantine role holds, in every database. */
  quarantined?: Array<{ database: string; kind: string; name: string }>;
  /** Objects of managed users that offboarding would not simply hand to the successor (quarantine, disable, refuse). */
  unsafeObjects?: ObjectDecision[];
}

/**
 * In the database `client` is connected to: what the quarantine role owns, and what offboarding would
 * decide for the managed users' objects (the same decisions as the run).
 */
export const reviewObjects = async (
  client: Client,
  database: string,
  managed: string[],
  successor: string,
  quarantineRole: string,
  includeShared: boolean,
): Promise<Required<Pick<DatabaseReview, 'quarantined' | 'unsafeObjects'>>> => {
  const { objects, hooks } = await readOwnedObjects(client, [...managed, quarantineRole], successor, quarantineRole, includeShared);
  const held = objects.filter((o) => o.owner === quarantineRole);
  const users = objects.filter((o) => o.owner !== quarantineRole);
  return {
    quarantined: held.map((o) => ({ database, kind: o.kind, name: o.identity })),
    unsafeObjects: decideObjects(
      users,
      hooks.filter((h) => h.owner !== quarantineRole),
      database,
    ).filter((d) => d.action !== 'successor' && d.action !== 'remove'),
  };
};

export const reviewDatabase = async (client: Client, names: string[]): Promise<DatabaseReview> => {
  const rows = (
    await client.query<{ name: string; can_login: boolean; superuser: boolean; privileged: string[]; comment: string | null; member_of: string[] }>(
      MANAGED_ROLES,
      [MARKER_ROLE],
    )
  ).rows;
  const existing = (await client.query<{ name: string }>(EXISTING_ROLES, [names])).rows.map((r) => r.name);
  let withPassword: Set<string> | null = null;
  // pg_authid's refusal (RDS: to everyone) would end the transaction; the savepoint keeps it to this one question.
  await client.query('SAVEPOINT passwords');
  try {
    withPassword = new Set((await client.query<{ name: string }>(PASSWORDS_SET, [rows.map((r) => r.name)])).rows.map((r) => r.name));
    await client.query('RELEASE SAVEPOINT passwords');
  } catch (e) {
    if (sqlstateOf(e) !== SQLSTATE.insufficientPrivilege) throw e;
    await client.query('ROLLBACK TO SAVEPOINT passwords');
  }
  return {
    managed: rows.map((r) => ({
      name: r.name,
      canLogin: r.can_login,
      superuser: r.superuser,
      privileged: r.privileged,
      memberOf: r.member_of,
      comment: r.comment,
      passwordSet: withPassword ? withPassword.has(r.name) : null,
    })),
    existing,
  };
};
