import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
  type AttachedPolicy,
  type IAMClient,
} from '@aws-sdk/client-iam';
import type { PrincipalArn } from '../arn';
import { mapAwsError } from '../aws-errors';
import { ProvisioningError } from '../errors';
import {
  fitsInOnePolicy,
  grantPolicyArn,
  grantPolicyName,
  grantsInDocument,
  MAX_POLICY_VERSIONS,
  POLICY_PATH,
  renderPolicy,
  slotOf,
} from './policy-document';
import { type ExpectedPolicies, type LockDeps, withPrincipalLock } from './principal-lock';

export interface GrantLimits {
  attachedPoliciesQuota: number;
  maxGrantPoliciesPerPrincipal: number;
}

export interface GrantDeps {
  iam: IAMClient;
  lock: LockDeps;
  limits: GrantLimits;
}

/** One of this project's policies on a principal, as IAM shows it now. */
export interface GrantPolicy {
  slot: number;
  name: string;
  arn: string;
  defaultVersionId: string;
  grants: string[];
}

export interface PrincipalGrants {
  /** Every managed policy attached to the principal, ours or not (the quota counts them all). */
  attachedCount: number;
  policies: GrantPolicy[];
}

export interface GrantChange {
  outcome: 'added' | 'already present';
  policyName: string;
  policyArn: string;
  resourceArn: string;
}

const PRINCIPAL_NOT_FOUND = { NoSuchEntity: 'PrincipalNotFound', NoSuchEntityException: 'PrincipalNotFound' } as const;

const listAttached = async (iam: IAMClient, principal: PrincipalArn): Promise<AttachedPolicy[]> => {
  const all: AttachedPolicy[] = [];
  let marker: string | undefined;
  do {
    const page =
      principal.type === 'role'
        ? await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: principal.name, Marker: marker }))
        : await iam.send(new ListAttachedUserPoliciesCommand({ UserName: principal.name, Marker: marker }));
    all.push(...(page.AttachedPolicies ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return all;
};

const versionNumber = (v: string | null | undefined): number => (v ? Number(v.replace(/^v/, '')) : 0);

/**
 * Reads the principal's grant policies and checks them against the versions the previous
 * lock holder wrote; a read that does not show them yet is retried (IamNotYetConsistent).
 */
export const readPrincipalGrants = async (iam: IAMClient, principal: PrincipalArn, expected: ExpectedPolicies = {}): Promise<PrincipalGrants> => {
  try {
    const attached = await listAttached(iam, principal);
    const ours = attached.filter((p) => p.PolicyArn?.includes(`:policy${POLICY_PATH}`) && slotOf(principal, p.PolicyName ?? '') !== undefined);
    const policies: GrantPolicy[] = [];
    for (const p of ours) {
      const arn = p.PolicyArn as string;
      const policy = (await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy;
      const defaultVersionId = policy?.DefaultVersionId ?? 'v1';
      const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: defaultVersionId }));
      policies.push({ slot: slotOf(principal, p.PolicyName as string) as number, name: p.PolicyName as string, arn, defaultVersionId, grants: grantsInDocument(version.PolicyVersion?.Document ?? '{}') });
    }
    for (const [arn, version] of Object.entries(expected)) {
      if (!arn.includes(grantPolicyName(principal, 0).slice(0, -1))) continue;
      const seen = policies.find((p) => p.arn === arn);
      const stale = version === null ? seen !== undefined : !seen || versionNumber(seen.defaultVersionId) < versionNumber(version);
      if (stale) throw new ProvisioningError('IamNotYetConsistent', `IAM does not show the last change to ${arn} yet (expected ${version ?? 'deleted'}); retrying`);
    }
    return { attachedCount: attached.length, policies: policies.sort((a, b) => a.slot - b.slot) };
  } catch (e) {
    return mapAwsError(e, `read grant policies of ${principal.arn}`, PRINCIPAL_NOT_FOUND);
  }
};

/** Makes `resources` the default version of a policy, deleting the oldest version at the limit of five. */
const writePolicyVersion = async (iam: IAMClient, policyArn: string, resources: string[]): Promise<string> => {
  const versions = (await iam.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn }))).Versions ?? [];
  if (versions.length >= MAX_POLICY_VERSIONS) {
    const oldest = versions.filter((v) => !v.IsDefaultVersion).sort((a, b) => versionNumber(a.VersionId) - versionNumber(b.VersionId))[0];
    if (oldest?.VersionId) await iam.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: oldest.VersionId }));
  }
  const out = await iam.send(new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument: JSON.stringify(renderPolicy(resources)), SetAsDefault: true }));
  return out.PolicyVersion?.VersionId ?? 'v1';
};

const createAndAttach = async (iam: IAMClient, principal: PrincipalArn, slot: number, resources: string[]): Promise<string> => {
  const arn = grantPolicyArn(principal, slot);
  let versionId = 'v1';
  try {
    await iam.send(
      new CreatePolicyCommand({
        PolicyName: grantPolicyName(principal, slot),
        Path: POLICY_PATH,
        PolicyDocument: JSON.stringify(renderPolicy(resources)),
        Description: `rds-db:connect grants of ${principal.arn}, managed by rds-iam-access. Do not edit by hand.`,
        Tags: [{ Key: 'managed-by', Value: 'rds-iam-access' }],
      }),
    );
  } catch (e) {
    // Left over from a run that created it and stopped before attaching: reuse it.
    if ((e as Error).name !== 'EntityAlreadyExists' && (e as Error).name !== 'EntityAlreadyExistsException') throw e;
    versionId = await writePolicyVersion(iam, arn, resources);
  }
  if (principal.type === 'role') await iam.send(new AttachRolePolicyCommand({ RoleName: principal.name, PolicyArn: arn }));
  else await iam.send(new AttachUserPolicyCommand({ UserName: principal.name, PolicyArn: arn }));
  return versionId;
};

/**
 * Adds one `rds-db:connect` resource to the principal's grant policies, under the principal's
 * lock. Re-adding is a no-op; the principal's other policies are never touched.
 */
export const addConnectGrant = async (deps: GrantDeps, principal: PrincipalArn, resourceArn: string, owner: string): Promise<GrantChange> =>
  withPrincipalLock<GrantChange>(deps.lock, principal.arn, owner, async (expected) => {
    const current = await readPrincipalGrants(deps.iam, principal, expected);
    const holder = current.policies.find((p) => p.grants.includes(resourceArn));
    if (holder) return { result: { outcome: 'already present', policyName: holder.name, policyArn: holder.arn, resourceArn } };
    try {
      const roomy = current.policies.find((p) => fitsInOnePolicy([...p.grants, resourceArn]));
      if (roomy) {
        const versionId = await writePolicyVersion(deps.iam, roomy.arn, [...roomy.grants, resourceArn]);
        return { result: { outcome: 'added', policyName: roomy.name, policyArn: roomy.arn, resourceArn }, expected: { ...expected, [roomy.arn]: versionId } };
      }
      const { maxGrantPoliciesPerPrincipal, attachedPoliciesQuota } = deps.limits;
      const total = current.policies.reduce((n, p) => n + p.grants.length, 0);
      if (current.policies.length >= maxGrantPoliciesPerPrincipal) {
        throw new ProvisioningError('GrantLimitReached', `${principal.arn} already holds ${total} database grants in ${current.policies.length} policies, the configured maximum (iam.maxGrantPoliciesPerPrincipal); offboard unused database users first`);
      }
      if (current.attachedCount >= attachedPoliciesQuota) {
        throw new ProvisioningError('GrantLimitReached', `${principal.arn} has ${current.attachedCount} managed policies attached, IAM's quota (iam.attachedPoliciesQuota); detach one or raise the quota`);
      }
      const used = new Set(current.policies.map((p) => p.slot));
      const slot = [...Array(maxGrantPoliciesPerPrincipal).keys()].find((n) => !used.has(n)) as number;
      const versionId = await createAndAttach(deps.iam, principal, slot, [resourceArn]);
      const arn = grantPolicyArn(principal, slot);
      return { result: { outcome: 'added', policyName: grantPolicyName(principal, slot), policyArn: arn, resourceArn }, expected: { ...expected, [arn]: versionId } };
    } catch (e) {
      return mapAwsError(e, `grant rds-db:connect to ${principal.arn}`, { ...PRINCIPAL_NOT_FOUND, LimitExceeded: 'GrantLimitReached', LimitExceededException: 'GrantLimitReached' });
    }
  });
