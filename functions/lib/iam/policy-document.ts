import { createHash } from 'node:crypto';
import type { PrincipalArn } from '../arn';

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
 * Deterministic per principal and slot: `rds-iam-access-<name>-<hash of the ARN>-<n>`. The hash
 * tells apart principals with the same name on different paths; the name is for people.
 */
export const grantPolicyName = (principal: PrincipalArn, slot: number): string =>
  `rds-iam-access-${principal.type}-${principal.name.slice(0, 64)}-${hash8(principal.arn)}-${slot}`;

export const grantPolicyArn = (principal: PrincipalArn, slot: number): string =>
  `arn:${principal.partition}:iam::${principal.accountId}:policy${POLICY_PATH}${grantPolicyName(principal, slot)}`;

/** The slot number of one of our policy names, or undefined for any other policy. */
export const slotOf = (principal: PrincipalArn, policyName: string): number | undefined => {
  const prefix = grantPolicyName(principal, 0).slice(0, -1);
  if (!policyName.startsWith(prefix)) return undefined;
  const n = Number(policyName.slice(prefix.length));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
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
  return statements
    .filter((s) => s.Sid === STATEMENT_SID && s.Effect === 'Allow')
    .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
};

export const fitsInOnePolicy = (resources: readonly string[]): boolean => policySize(renderPolicy(resources)) <= MANAGED_POLICY_MAX_CHARS;
