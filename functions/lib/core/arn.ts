import { invalid } from './errors';

export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';

export interface PrincipalArn {
  arn: string;
  partition: Partition;
  accountId: string;
  type: 'role' | 'user';
  /** The name without its path: what IAM APIs take as RoleName / UserName. */
  name: string;
  path: string;
}

// IAM names: letters, digits and +=,.@_- ; paths: / separated segments of printable ASCII.
const PRINCIPAL_ARN = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(role|user)(\/(?:[\x21-\x7e]+\/)*)([\w+=,.@-]{1,128})$/;

export const partitionOfRegion = (region: string): Partition => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');

/** Parses an IAM role or user ARN; anything else (assumed-role sessions, groups, root) is refused. */
export const parsePrincipalArn = (value: unknown, field = 'principalArn'): PrincipalArn => {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'is required and must be an IAM role or user ARN');
  if (value.length > 2048) throw invalid(field, 'is longer than an IAM ARN can be');
  if (/^arn:[^:]+:sts::\d{12}:assumed-role\//.test(value)) {
    throw invalid(field, 'is an STS session ARN; give the IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME) instead');
  }
  const m = PRINCIPAL_ARN.exec(value);
  if (!m) throw invalid(field, `"${value}" is not an IAM role or user ARN (arn:PARTITION:iam::ACCOUNT:role/NAME or user/NAME)`);
  const path = m[4];
  if (path.length > 512) throw invalid(field, 'has an IAM path longer than 512 characters');
  if (m[3] === 'role' && m[5].length > 64) throw invalid(field, 'has a role name longer than 64 characters');
  if (m[3] === 'user' && m[5].length > 64) throw invalid(field, 'has a user name longer than 64 characters');
  return { arn: value, partition: m[1] as Partition, accountId: m[2], type: m[3] as 'role' | 'user', path, name: m[5] };
};

/** An IAM role or user ARN read back from IAM or an execution (not request input): undefined when it is not one. */
export const principalArnOrUndefined = (value: unknown): PrincipalArn | undefined => {
  if (typeof value !== 'string') return undefined;
  try {
    return parsePrincipalArn(value);
  } catch {
    return undefined;
  }
};

/** An IAM tag key, as IAM accepts it (session tags name the database user of shared roles). */
export const IAM_TAG_KEY = /^[\w.:/=+@-]{1,128}$/;

export type PrincipalIdentity = Pick<PrincipalArn, 'partition' | 'accountId' | 'type' | 'name'>;

/**
 * Who a role or user is: `partition:account:type:name`. IAM names are unique per account and type
 * whatever the path, so the path is left out: `role/alice` and `role/x/alice` are one principal,
 * and must get one policy name, one lock and one identity everywhere.
 */
export const principalKey = (p: PrincipalIdentity): string => `${p.partition}:${p.accountId}:${p.type}:${p.name}`;

/** The principal a key names, as an ARN without path (IAM APIs take the name; the path is not part of who it is). */
export const principalOfKey = (key: string): PrincipalArn | undefined => {
  const m = /^(aws|aws-cn|aws-us-gov):(\d{12}):(role|user):([\w+=,.@-]{1,64})$/.exec(key);
  return m ? principalArnOrUndefined(`arn:${m[1]}:iam::${m[2]}:${m[3]}/${m[4]}`) : undefined;
};

/** The same IAM role or user, whatever the path (names are unique per account and type). */
export const samePrincipal = (a: PrincipalIdentity, b: PrincipalIdentity): boolean => principalKey(a) === principalKey(b);

/** Two ARNs of the same role or user (paths aside); false when either is not one. */
export const sameRoleOrUser = (a: unknown, b: unknown): boolean => {
  const [x, y] = [principalArnOrUndefined(a), principalArnOrUndefined(b)];
  return x !== undefined && y !== undefined && samePrincipal(x, y);
};

/** The resource of `rds-db:connect`: the DB user on one instance (DbiResourceId) or cluster (DbClusterResourceId). */
export const dbUserResourceArn = (p: { partition: Partition; region: string; accountId: string; resourceId: string; dbUser: string }): string =>
  `arn:${p.partition}:rds-db:${p.region}:${p.accountId}:dbuser:${p.resourceId}/${p.dbUser}`;

/** Partition, Region and account of any ARN (used on the DB instance/cluster ARN RDS returns). */
export const arnParts = (arn: string): { partition: Partition; region: string; accountId: string } => {
  const [prefix, partition, , region, accountId] = arn.split(':');
  if (prefix !== 'arn' || !partition || !region || !/^\d{12}$/.test(accountId ?? '')) throw new Error(`not an ARN: ${arn}`);
  return { partition: partition as Partition, region, accountId };
};

/** A literal start of database user names: no IAM wildcard (* ?) or policy variable ($). */
const DB_USER_PREFIX = /^[A-Za-z_][A-Za-z0-9_.@+=-]*$/;

/**
 * The connect resource for a principal that many people share (an IAM Identity Center permission-set
 * role): the database user is `dbUserPrefix` followed by the session's principal tag, set per person by
 * the identity provider (attributes for access control). One statement serves every member; a member
 * can connect only as the user its own tag names, and only among the names reserved for people:
 * whatever the tag says, never as an admin, master or other database user.
 */
export const sessionTagConnectResource = (
  p: { partition: Partition; region: string; accountId: string; resourceId: string },
  tagKey: string,
  dbUserPrefix: string,
): string => {
  if (!IAM_TAG_KEY.test(tagKey)) throw invalid('tagKey', 'must be an IAM tag key');
  if (!DB_USER_PREFIX.test(dbUserPrefix)) throw invalid('dbUserPrefix', 'must be a literal start of database user names (letters, digits and _ . @ + = -)');
  return `arn:${p.partition}:rds-db:${p.region}:${p.accountId}:dbuser:${p.resourceId}/${dbUserPrefix}\${aws:PrincipalTag/${tagKey}}`;
};

/** A caller pattern (api.admins, an approval policy's approvers): `*` matches any characters, nothing else is special. */
const globToRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

/** Whether any of the ARNs (a caller as SigV4 reports it, its IAM principal) matches any of the patterns. */
export const matchesArnPatterns = (arns: ReadonlyArray<string | undefined>, patterns: readonly string[]): boolean =>
  patterns.some((p) => arns.some((a) => a !== undefined && globToRegExp(p).test(a)));
