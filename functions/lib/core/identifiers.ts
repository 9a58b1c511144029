import { invalid, ProvisioningError } from './errors';

/** PostgreSQL truncates identifiers longer than NAMEDATALEN-1 bytes; we refuse instead. */
export const MAX_IDENTIFIER_BYTES = 63;

/** RDS's role whose members log in with an IAM token instead of a password. */
export const RDS_IAM_ROLE = 'rds_iam';

/** The role that marks every database user this project created (cluster-wide, NOLOGIN). */
export const MARKER_ROLE = 'rds_iam_access_managed';

/**
 * The role the admin grants memberships as, on PostgreSQL 16+ (cluster-wide, NOLOGIN, the admin its only member, SET
 * without INHERIT). There the creator of a role holds ADMIN OPTION on it, so an admin that created N users is a member
 * of N roles, and every check that it may grant a role walks them all (measured: 0.2 ms per GRANT at 0 users, 19 ms
 * at 5,000). This role holds ADMIN OPTION on the few roles it grants and is a member of nothing else: its check stays
 * constant whatever the fleet (docs/design.md "A fleet's cost").
 */
export const GRANTOR_ROLE = 'rds_iam_access_grantor';

/**
 * Characters a database user name may contain. Names are always quoted in SQL, so this is
 * not about SQL safety: the name also becomes part of an IAM resource ARN
 * (`dbuser:RESOURCE_ID/NAME`), where `*` and `?` are wildcards and `${` starts a policy
 * variable, and it must survive the token's query string. IAM names use the same set.
 */
const DB_USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.@+=-]*$/;
const GROUP_OR_DATABASE_PATTERN = /^[A-Za-z_][A-Za-z0-9_$.-]*$/;

/** Names PostgreSQL itself refuses or reserves for role specifications. */
const POSTGRES_RESERVED = new Set(['public', 'none', 'current_user', 'current_role', 'session_user', 'postgres']);

export interface ProtectedNames {
  masterUser?: string;
  adminUser?: string;
  successorRole?: string;
  quarantineRole?: string;
  extra?: readonly string[];
}

export const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

const checkShape = (field: string, value: unknown, pattern: RegExp, what: string): string => {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, `must be a non-empty string`);
  if (value.includes('\0')) throw invalid(field, 'must not contain a NUL character');
  if (byteLength(value) > MAX_IDENTIFIER_BYTES) {
    throw invalid(field, `"${value}" is ${byteLength(value)} bytes; PostgreSQL identifiers are at most ${MAX_IDENTIFIER_BYTES} bytes`);
  }
  if (!pattern.test(value)) throw invalid(field, `"${value}" is not a valid ${what}`);
  return value;
};

/**
 * Why a role name may never be created, altered or dropped by this project, or undefined.
 * Comparisons ignore case: RDS treats its own names case-insensitively in places, and a
 * look-alike of the master user is never what anyone wants.
 */
export const protectedReason = (name: string, names: ProtectedNames = {}): string | undefined => {
  const lower = name.toLowerCase();
  if (lower.startsWith('pg_')) return 'pg_* roles are reserved by PostgreSQL';
  if (lower.startsWith('rds')) return 'rds* roles are reserved by Amazon RDS';
  if (POSTGRES_RESERVED.has(lower)) return `"${name}" is a reserved role name`;
  if (lower === MARKER_ROLE) return 'it is the marker role of this project';
  if (lower === GRANTOR_ROLE) return 'it is the role this project grants memberships as';
  const eq = (other?: string) => other !== undefined && other.toLowerCase() === lower;
  if (eq(names.masterUser)) return 'it is the master user of the target';
  if (eq(names.adminUser)) return 'it is the admin user this project connects as';
  if (eq(names.successorRole)) return 'it is the successor role that receives reassigned objects';
  if (eq(names.quarantineRole)) return 'it is the quarantine role that holds unsafe objects of offboarded users';
  if (names.extra?.some((p) => eq(p))) return 'it is listed as protected in the target configuration';
  return undefined;
};

/** Families of names reserved by PostgreSQL and RDS (protectedReason refuses them by these prefixes). */
const RESERVED_FAMILIES = ['pg_', 'rds'];

/**
 * Why database users named `prefix...` could include a name that is never managed (so a statement
 * reaching every name under the prefix would reach it), or undefined. Ignores case, like protectedReason.
 */
export const protectedUnderPrefix = (prefix: string, names: ProtectedNames = {}): string | undefined => {
  const p = prefix.toLowerCase();
  const family = RESERVED_FAMILIES.find((f) => p.startsWith(f) || f.startsWith(p));
  if (family) return `names starting with "${prefix}" include ${family}* roles: ${protectedReason(family)}`;
  const named = [...POSTGRES_RESERVED, MARKER_ROLE, GRANTOR_ROLE, names.masterUser, names.adminUser, names.successorRole, ...(names.extra ?? [])];
  const hit = named.find((n) => n?.toLowerCase().startsWith(p));
  return hit === undefined ? undefined : `"${hit}" starts with "${prefix}": ${protectedReason(hit, names)}`;
};

/** Validates a database user name; refuses protected names with ProtectedRole. */
export const validateDbUser = (value: unknown, names: ProtectedNames = {}, field = 'dbUser'): string => {
  const name = checkShape(field, value, DB_USER_PATTERN, 'database user name (letters, digits and _ . @ + = -, starting with a letter or _)');
  const reason = protectedReason(name, names);
  if (reason) throw new ProvisioningError('ProtectedRole', `${field}: "${name}" cannot be managed: ${reason}`, { details: { field, reason } });
  return name;
};

export const validateGroupRoleName = (value: unknown, field: string): string => checkShape(field, value, GROUP_OR_DATABASE_PATTERN, 'role name');

export const validateDatabaseName = (value: unknown, field: string): string => checkShape(field, value, GROUP_OR_DATABASE_PATTERN, 'database name');

/**
 * The database user name used when a request gives none: the IAM role or user name, exactly
 * (case kept: the user name in the IAM token must match the PostgreSQL role name byte for byte).
 */
export const defaultDbUser = (principalName: string): string => principalName;
