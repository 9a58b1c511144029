import { createHash } from 'node:crypto';
import { type PrincipalArn, type PrincipalIdentity, principalKey, principalOfKey, samePrincipal } from '../core/arn';

/**
 * The identity policies this project owns: customer-managed policies under one IAM path,
 * attached to the principal, each holding one statement that allows `rds-db:connect` on a
 * list of `dbuser:RESOURCE_ID/DB_USER` ARNs. Pure functions only; IAM I/O is in grants.ts.
 */
export const POLICY_PATH = '/rds-iam-access/';
export const STATEMENT_SID = 'RdsIamAccessConnect';
/** IAM's limit for one managed policy, counted without white space (JSON.stringify adds none). */
export const MANAGED_POLICY_MAX_CHARS = 6144;
/** IAM keeps at most five versions of a managed policy. */
export const MAX_POLICY_VERSIONS = 5;

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<{ Sid?: string; Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: string | string[]; Condition?: unknown }>;
}

const hash8 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/**
 * Deterministic per principal and slot: `rds-iam-access-<type>-<name>-<hash of the principal key>-<n>`.
 * The key has no path (one role, one name, whatever path a request wrote); the name part is for people.
 */
export const grantPolicyName = (principal: PrincipalIdentity, slot: number): string =>
  `rds-iam-access-${principal.type}-${principal.name}-${hash8(principalKey(principal))}-${slot}`;

export const grantPolicyArn = (principal: PrincipalIdentity, slot: number): string =>
  `arn:${principal.partition}:iam::${principal.accountId}:policy${POLICY_PATH}${grantPolicyName(principal, slot)}`;

/**
 * Set when the policy is created. Creating a policy with tags needs iam:TagPolicy besides
 * iam:CreatePolicy, so someone who may only create policies cannot forge it.
 */
export const PRINCIPAL_TAG = 'rds-iam-access:principal';
/** The tag versions before PRINCIPAL_TAG set at creation (their names hashed the ARN with its path). */
export const LEGACY_TAG = { Key: 'managed-by', Value: 'rds-iam-access' } as const;

/** IAM tag values cannot hold ',', which IAM names may; names cannot hold '/', so the swap is unambiguous. */
export const principalTagValue = (principal: PrincipalIdentity): string => principalKey(principal).replace(/,/g, '/');

export const grantPolicyTags = (principal: PrincipalIdentity): Array<{ Key: string; Value: string }> => [
  { Key: PRINCIPAL_TAG, Value: principalTagValue(principal) },
];

/** What IAM says about a policy: enough to prove whose it is. */
export interface PolicyFacts {
  arn: string;
  name: string;
  path?: string;
  tags?: ReadonlyArray<{ Key?: string; Value?: string }>;
}

export interface PolicyOwner {
  principal: PrincipalArn;
  slot: number;
  /** Created before PRINCIPAL_TAG: its name cannot be recomputed, the creation tag is the proof. */
  legacy: boolean;
}

const GRANT_POLICY_NAME = /^rds-iam-access-(role|user)-([\w+=,.@-]{1,64})-[0-9a-f]{8}-(\d{1,3})$/;

/**
 * The principal a policy is this project's grant policy for, or undefined when it is not provably
 * ours: the path, the exact name computed for that principal and slot, and the creation tag naming
 * the same principal must all agree. The description is for people and never read.
 */
export const ownerOfPolicy = (policy: PolicyFacts): PolicyOwner | undefined => {
  const m = GRANT_POLICY_NAME.exec(policy.name);
  const [, partition, , , accountId] = policy.arn.split(':');
  if (policy.path !== POLICY_PATH || !m) return undefined;
  const principal = principalOfKey(`${partition}:${accountId}:${m[1]}:${m[2]}`);
  if (!principal) return undefined;
  const slot = Number(m[3]);
  const tag = (key: string): string | undefined => policy.tags?.find((t) => t.Key === key)?.Value;
  const tagged = tag(PRINCIPAL_TAG);
  if (tagged !== undefined) {
    return tagged === principalTagValue(principal) && policy.name === grantPolicyName(principal, slot) ? { principal, slot, legacy: false } : undefined;
  }
  return tag(LEGACY_TAG.Key) === LEGACY_TAG.Value ? { principal, slot, legacy: true } : undefined;
};

/** Whether a policy is provably this project's grant policy for exactly this principal. */
export const isGrantPolicyOf = (policy: PolicyFacts, principal: PrincipalIdentity): PolicyOwner | undefined => {
  const owner = ownerOfPolicy(policy);
  return owner && samePrincipal(owner.principal, principal) ? owner : undefined;
};

export const renderPolicy = (resources: readonly string[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [{ Sid: STATEMENT_SID, Effect: 'Allow', Action: 'rds-db:connect', Resource: [...resources].sort() }],
});

export const policySize = (doc: PolicyDocument): number => JSON.stringify(doc).length;

/** The connect resources of one of our policy documents (IAM returns it URL-encoded). */
export const grantsInDocument = (document: string): string[] => {
  const doc = JSON.parse(document.startsWith('%7B') || document.startsWith('%7b') ? decodeURIComponent(document) : document) as PolicyDocument;
  const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  return statements.filter((s) => s.Sid === STATEMENT_SID && s.Effect === 'Allow').flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
};

export const fitsInOnePolicy = (resources: readonly string[]): boolean => policySize(renderPolicy(resources)) <= MANAGED_POLICY_MAX_CHARS;
