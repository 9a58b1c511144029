import { escapeIdentifier, escapeLiteral } from 'pg/lib/utils';
import { GRANTOR_ROLE, MARKER_ROLE } from '../core/identifiers';

/**
 * DDL statements cannot take bind parameters, so identifiers are quoted with the driver's
 * escapeIdentifier (doubling embedded quotes) and literals with escapeLiteral. Every name
 * reaching here has also been validated (identifiers.ts): two independent defences.
 */
const id = escapeIdentifier;
const ids = (names: string[]): string => names.map(id).join(', ');

/** A catalog object's identity as pg_identify_object returns it: schema-qualified and quoted by the server, never input. */
export type ServerQuoted = string & { readonly __serverQuoted: true };
const serverQuoted = (identity: ServerQuoted): string => identity;

/** The object kinds ALTER ... OWNER TO and REVOKE ... ON may name here: a fixed list, never input. */
const OBJECT_KEYWORDS = new Set([
  'TABLE',
  'SEQUENCE',
  'VIEW',
  'MATERIALIZED VIEW',
  'FOREIGN TABLE',
  'FUNCTION',
  'AGGREGATE',
  'PROCEDURE',
  'DOMAIN',
  'TYPE',
  'SERVER',
  'FOREIGN SERVER',
  'OPERATOR',
  'OPERATOR CLASS',
  'OPERATOR FAMILY',
  'COLLATION',
  'CONVERSION',
  'TEXT SEARCH CONFIGURATION',
  'TEXT SEARCH DICTIONARY',
  'STATISTICS',
  'LANGUAGE',
]);
const keyword = (k: string): string => {
  if (!OBJECT_KEYWORDS.has(k)) throw new Error(`not an object keyword this project uses: ${k}`);
  return k;
};

export interface SqlStep {
  sql: string;
  /** What the statement is for, in words: shown in dry runs and execution output. */
  purpose: string;
  /** Run as the grantor role (SET LOCAL ROLE), not as the admin: see GRANTOR_ROLE. */
  asGrantor?: true;
  /** Creates or changes one of the project's own roles (marker, grantor): such steps are serialised (lockKey.marker). */
  projectRole?: true;
}

/**
 * The steps as one statement string, for one round trip: consecutive steps run as the grantor are wrapped in
 * SET LOCAL ROLE grantor / SET LOCAL ROLE NONE (SET LOCAL ends with the transaction at the latest, so nothing outlives it). Every
 * step is built from quoted identifiers and literals, so joining them adds nothing a name could break out of.
 */
export const batchOf = (steps: readonly SqlStep[]): string => {
  const parts: string[] = [];
  let asGrantor = false;
  for (const s of steps) {
    if (Boolean(s.asGrantor) !== asGrantor) {
      asGrantor = !asGrantor;
      parts.push(asGrantor ? `SET LOCAL ROLE ${id(GRANTOR_ROLE)}` : 'SET LOCAL ROLE NONE');
    }
    parts.push(s.sql);
  }
  if (asGrantor) parts.push('SET LOCAL ROLE NONE');
  return parts.join(';\n');
};

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
  JSON.stringify({
    managedBy: 'rds-iam-access',
    createdBy,
    ...(principal ? { principal } : {}),
    ...(principalId ? { principalId } : {}),
    ...(idpUser ? { idpUser } : {}),
  } satisfies RoleComment);

export const parseRoleComment = (comment: string | null): RoleComment | undefined => {
  if (!comment) return undefined;
  try {
    const v = JSON.parse(comment) as Partial<RoleComment>;
    return v.managedBy === 'rds-iam-access' && typeof v.createdBy === 'string' ? (v as RoleComment) : undefined;
  } catch {
    return undefined;
  }
};

const GRANTOR_COMMENT = 'rds-iam-access grants memberships as this role (SET LOCAL ROLE). Its only member is the admin. Do not grant it to anyone else.';
const QUARANTINE_COMMENT =
  "Owns objects of users offboarded by rds-iam-access that would otherwise run with the successor role's rights. " +
  'Never grant it to anyone, never grant it privileges.';

export const ddl = {
  createMarkerRole: (): SqlStep => ({
    sql: `CREATE ROLE ${id(MARKER_ROLE)} NOLOGIN`,
    purpose: `create the marker role ${MARKER_ROLE} that tags every role this project manages`,
    projectRole: true,
  }),
  commentMarkerRole: (): SqlStep => ({
    sql: `COMMENT ON ROLE ${id(MARKER_ROLE)} IS ${escapeLiteral('Members are database users managed by rds-iam-access. Do not grant by hand.')}`,
    purpose: 'describe the marker role',
    projectRole: true,
  }),
  createGrantorRole: (): SqlStep => ({
    sql: `CREATE ROLE ${id(GRANTOR_ROLE)} NOLOGIN`,
    purpose: `create the role ${GRANTOR_ROLE} that grants memberships, so a GRANT costs the same whatever the number of users`,
    projectRole: true,
  }),
  commentGrantorRole: (): SqlStep => ({
    sql: `COMMENT ON ROLE ${id(GRANTOR_ROLE)} IS ${escapeLiteral(GRANTOR_COMMENT)}`,
    purpose: 'describe the grantor role',
    projectRole: true,
  }),
  /** SET without INHERIT: the admin acts as the grantor only inside a transaction that says so. */
  letAdminActAsGrantor: (): SqlStep => ({
    sql: `GRANT ${id(GRANTOR_ROLE)} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE`,
    purpose: `let the admin grant memberships as ${GRANTOR_ROLE}`,
    projectRole: true,
  }),
  /**
   * ADMIN only, as PostgreSQL 16+ records a creator: the grantor may grant the role but is no member of it (it neither
   * holds its privileges nor may SET ROLE to it), so it is never taken for a managed user nor reaches any data.
   */
  grantAdminOptionToGrantor: (role: string): SqlStep => ({
    sql: `GRANT ${id(role)} TO ${id(GRANTOR_ROLE)} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE`,
    purpose: `let ${GRANTOR_ROLE} grant ${role}`,
    projectRole: true,
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
  grantRole: (role: string, user: string, asGrantor = false): SqlStep => ({
    sql: `GRANT ${id(role)} TO ${id(user)}`,
    purpose: `grant ${role} to ${user}`,
    ...(asGrantor ? { asGrantor: true as const } : {}),
  }),
  grantConnect: (database: string, user: string): SqlStep => ({
    sql: `GRANT CONNECT ON DATABASE ${id(database)} TO ${id(user)}`,
    purpose: `allow ${user} to connect to database ${database}`,
  }),
  revokeConnect: (database: string, user: string): SqlStep => ({
    sql: `REVOKE ALL ON DATABASE ${id(database)} FROM ${id(user)}`,
    purpose: `revoke ${user}'s privileges on database ${database}`,
  }),
  /** CONNECT only: what a grant gave; other privileges on the database (CREATE, TEMPORARY) are not a grant's to take. */
  revokeConnectPrivilege: (database: string, user: string): SqlStep => ({
    sql: `REVOKE CONNECT ON DATABASE ${id(database)} FROM ${id(user)}`,
    purpose: `revoke ${user}'s CONNECT on database ${database}`,
  }),
  dropRole: (user: string): SqlStep => ({ sql: `DROP ROLE ${id(user)}`, purpose: `drop database user ${user}` }),
};

export const offboardDdl = {
  blockLogin: (user: string): SqlStep => ({ sql: `ALTER ROLE ${id(user)} NOLOGIN`, purpose: `block new logins of ${user}` }),
  /** REASSIGN/DROP OWNED need the privileges of both roles; PostgreSQL 16+ grants without INHERIT by default. */
  inheritRole: (role: string, versionNum: number): SqlStep => ({
    // biome-ignore lint/style/useTemplate: a clause, not a value: every ${} in DDL is a quoting call (test/unit/boundaries.test.ts)
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
  revokeRole: (role: string, user: string, asGrantor = false): SqlStep => ({
    sql: `REVOKE ${id(role)} FROM ${id(user)}`,
    purpose: asGrantor ? `revoke ${role} from ${user} (as granted by ${GRANTOR_ROLE})` : `revoke ${role} from ${user}`,
    ...(asGrantor ? { asGrantor: true as const } : {}),
  }),
};

/**
 * Statements that make a leaver's unsafe objects harmless before REASSIGN OWNED. Object identities
 * come from pg_identify_object (ServerQuoted); the keyword naming the object kind from a fixed list;
 * every other name is quoted here.
 */
export const quarantineDdl = {
  createRole: (role: string): SqlStep => ({
    sql: `CREATE ROLE ${id(role)} NOLOGIN NOINHERIT`,
    purpose: `create the quarantine role ${role} (no login, no privileges, no members) for objects of offboarded users that must not run with anyone's rights`,
  }),
  commentRole: (role: string): SqlStep => ({
    sql: `COMMENT ON ROLE ${id(role)} IS ${escapeLiteral(QUARANTINE_COMMENT)}`,
    purpose: `describe the quarantine role ${role}`,
  }),
  /** ALTER ... OWNER TO needs the admin to be able to SET ROLE to the new owner: only for this transaction. */
  actAs: (role: string, versionNum: number): SqlStep => ({
    // biome-ignore lint/style/useTemplate: a clause, not a value: every ${} in DDL is a quoting call (test/unit/boundaries.test.ts)
    sql: `GRANT ${id(role)} TO CURRENT_USER` + (versionNum >= 160000 ? ' WITH INHERIT FALSE, SET TRUE' : ''),
    purpose: `let the admin hand objects to ${role} (revoked again in the same transaction)`,
  }),
  stopActingAs: (role: string): SqlStep => ({ sql: `REVOKE ${id(role)} FROM CURRENT_USER`, purpose: `take back the admin's membership in ${role}` }),
  /**
   * ...and the new owner to hold CREATE on the object's schema (superusers skip the check), and USAGE to
   * name the object when revoking as the owner: only for this transaction. Where the admin may grant
   * CREATE only, PostgreSQL warns and grants that; USAGE then comes from PUBLIC or the REVOKE fails (insufficient_privilege).
   */
  lendSchema: (schema: string, role: string): SqlStep => ({
    sql: `GRANT USAGE, CREATE ON SCHEMA ${id(schema)} TO ${id(role)}`,
    purpose: `let ${role} own objects in schema ${schema} (revoked again in the same transaction)`,
  }),
  takeSchemaBack: (schema: string, role: string): SqlStep => ({
    sql: `REVOKE USAGE, CREATE ON SCHEMA ${id(schema)} FROM ${id(role)}`,
    purpose: `take USAGE and CREATE on schema ${schema} back from ${role}`,
  }),
  alterOwner: (kind: string, identity: ServerQuoted, role: string): SqlStep => ({
    sql: `ALTER ${keyword(kind)} ${serverQuoted(identity)} OWNER TO ${id(role)}`,
    purpose: `hand ${kind.toLowerCase()} ${identity} to ${role}`,
  }),
  /**
   * Run as the new owner (SET LOCAL ROLE), so the owner is the grantor: run as the admin, PostgreSQL may
   * pick another grantor (a role holding a grant option, such as the successor), and revoke nothing.
   */
  setRole: (role: string): SqlStep => ({ sql: `SET LOCAL ROLE ${id(role)}`, purpose: `act as ${role}, the owner, to revoke what others hold` }),
  resetRole: (): SqlStep => ({ sql: 'RESET ROLE', purpose: 'act as the admin again' }),
  revokeAll: (kind: string, identity: ServerQuoted, grantees: string[]): SqlStep => ({
    // biome-ignore lint/style/useTemplate: a clause, not a value: every ${} in DDL is a quoting call (test/unit/boundaries.test.ts)
    sql: `REVOKE ALL ON ${keyword(kind)} ${serverQuoted(identity)} FROM PUBLIC` + (grantees.length ? `, ${ids(grantees)}` : '') + ' CASCADE',
    purpose: `revoke every privilege others hold on ${kind.toLowerCase()} ${identity} (${['PUBLIC', ...grantees].join(', ')})`,
  }),
  disableRule: (table: ServerQuoted, rule: string): SqlStep => ({
    sql: `ALTER TABLE ONLY ${serverQuoted(table)} DISABLE RULE ${id(rule)}`,
    purpose: `disable rule ${rule} on ${table} (kept, not dropped)`,
  }),
  disableTrigger: (table: ServerQuoted, trigger: string): SqlStep => ({
    sql: `ALTER TABLE ONLY ${serverQuoted(table)} DISABLE TRIGGER ${id(trigger)}`,
    purpose: `disable trigger ${trigger} on ${table} (kept, not dropped)`,
  }),
};
