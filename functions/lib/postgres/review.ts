import type { Client } from 'pg';
import { MARKER_ROLE } from '../core/identifiers';
import { IS_MEMBERSHIP } from './queries';
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

/** The admin (its PostgreSQL 16+ creator's ADMIN OPTION on the marker role is no membership) is never one of them. */
const MANAGED_ROLES = `
SELECT r.rolname::text AS name, r.rolcanlogin AS can_login, r.rolsuper AS superuser,
       array_remove(ARRAY[CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                           CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS privileged,
       shobj_description(r.oid, 'pg_authid') AS comment,
       ARRAY(SELECT DISTINCT g.rolname::text FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid WHERE am.member = r.oid AND ${IS_MEMBERSHIP('am')} ORDER BY 1) AS member_of
  FROM pg_roles r
 WHERE EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles mk ON mk.oid = m.roleid WHERE m.member = r.oid AND mk.rolname = $1 AND ${IS_MEMBERSHIP('m')})
   AND r.rolname <> current_user
 ORDER BY 1`;

const EXISTING = `SELECT rolname::text AS name FROM pg_roles WHERE rolname = ANY($1::text[]) ORDER BY 1`;

/** pg_authid is readable by superusers only; on RDS by nobody. Asked inside a savepoint: its refusal would end the transaction. */
const PASSWORDS_SET = `SELECT rolname::text AS name FROM pg_authid WHERE rolpassword IS NOT NULL AND rolname = ANY($1::text[])`;

export const reviewDatabase = async (client: Client, names: string[]): Promise<DatabaseReview> => {
  const rows = (
    await client.query<{ name: string; can_login: boolean; superuser: boolean; privileged: string[]; comment: string | null; member_of: string[] }>(
      MANAGED_ROLES,
      [MARKER_ROLE],
    )
  ).rows;
  const existing = (await client.query<{ name: string }>(EXISTING, [names])).rows.map((r) => r.name);
  let withPassword: Set<string> | null = null;
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
