import { escapeIdentifier, escapeLiteral } from 'pg';
import { MARKER_ROLE } from '../identifiers';

/**
 * DDL statements cannot take bind parameters, so identifiers are quoted with the driver's
 * escapeIdentifier (doubling embedded quotes) and literals with escapeLiteral. Every name
 * reaching here has also been validated (identifiers.ts): two independent defences.
 */
const id = escapeIdentifier;

export interface SqlStep {
  sql: string;
  /** What the statement is for, in words: shown in dry runs and execution output. */
  purpose: string;
}

export interface RoleComment {
  managedBy: 'rds-iam-access';
  createdBy: string;
  principal?: string;
  /** The principal's IAM unique id (RoleId / UserId): a role re-created under the same name has another. */
  principalId?: string;
  /** The identity-provider person it was created for (`SOURCE:USER_ID`): how a deletion finds it again. */
  idpUser?: string;
}

export type CreationRecord = Omit<RoleComment, 'managedBy'>;

export const roleComment = ({ createdBy, principal, principalId, idpUser }: CreationRecord): string =>
  JSON.stringify({ managedBy: 'rds-iam-access', createdBy, ...(principal ? { principal } : {}), ...(principalId ? { principalId } : {}), ...(idpUser ? { idpUser } : {}) } satisfies RoleComment);

export const parseRoleComment = (comment: string | null): RoleComment | undefined => {
  if (!comment) return undefined;
  try {
    const v = JSON.parse(comment) as Partial<RoleComment>;
    return v.managedBy === 'rds-iam-access' && typeof v.createdBy === 'string' ? (v as RoleComment) : undefined;
  } catch {
    return undefined;
  }
};

export const ddl = {
  createMarkerRole: (): SqlStep => ({
    sql: `CREATE ROLE ${id(MARKER_ROLE)} NOLOGIN`,
    purpose: `create the marker role ${MARKER_ROLE} that tags every role this project manages`,
  }),
  commentMarkerRole: (): SqlStep => ({
    sql: `COMMENT ON ROLE ${id(MARKER_ROLE)} IS ${escapeLiteral('Members are database users managed by rds-iam-access. Do not grant by hand.')}`,
    purpose: 'describe the marker role',
  }),
  createUser: (user: string): SqlStep => ({
    // No password: rds_iam makes the token the only way in.
    sql: `CREATE ROLE ${id(user)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION`,
    purpose: `create database user ${user} with LOGIN and no password`,
  }),
  commentUser: (user: string, record: CreationRecord): SqlStep => ({
    sql: `COMMENT ON ROLE ${id(user)} IS ${escapeLiteral(roleComment(record))}`,
    purpose: `record that request ${record.createdBy} created ${user}`,
  }),
  enableLogin: (user: string): SqlStep => ({ sql: `ALTER ROLE ${id(user)} WITH LOGIN`, purpose: `allow ${user} to log in` }),
  grantRole: (role: string, user: string): SqlStep => ({ sql: `GRANT ${id(role)} TO ${id(user)}`, purpose: `grant ${role} to ${user}` }),
  grantConnect: (database: string, user: string): SqlStep => ({
    sql: `GRANT CONNECT ON DATABASE ${id(database)} TO ${id(user)}`,
    purpose: `allow ${user} to connect to database ${database}`,
  }),
  revokeConnect: (database: string, user: string): SqlStep => ({
    sql: `REVOKE ALL ON DATABASE ${id(database)} FROM ${id(user)}`,
    purpose: `revoke ${user}'s privileges on database ${database}`,
  }),
  dropRole: (user: string): SqlStep => ({ sql: `DROP ROLE ${id(user)}`, purpose: `drop database user ${user}` }),
};

export const offboardDdl = {
  blockLogin: (user: string): SqlStep => ({ sql: `ALTER ROLE ${id(user)} NOLOGIN`, purpose: `block new logins of ${user}` }),
  /** REASSIGN/DROP OWNED need the privileges of both roles; PostgreSQL 16+ grants without INHERIT by default. */
  inheritRole: (role: string, versionNum: number): SqlStep => ({
    sql: `GRANT ${id(role)} TO CURRENT_USER` + (versionNum >= 160000 ? ' WITH INHERIT TRUE' : ''),
    purpose: `let the admin act with the privileges of ${role}`,
  }),
  reassignOwned: (user: string, successor: string): SqlStep => ({
    sql: `REASSIGN OWNED BY ${id(user)} TO ${id(successor)}`,
    purpose: `give everything ${user} owns to ${successor}`,
  }),
  dropOwned: (user: string): SqlStep => ({
    sql: `DROP OWNED BY ${id(user)}`,
    purpose: `remove ${user}'s remaining privileges and default privileges (it owns nothing any more)`,
  }),
  revokeRole: (role: string, user: string): SqlStep => ({ sql: `REVOKE ${id(role)} FROM ${id(user)}`, purpose: `revoke ${role} from ${user}` }),
};
