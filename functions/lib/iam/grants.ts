import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreatePolicyCommand,
  DeletePolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  ListPoliciesCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListEntitiesForPolicyCommand,
  ListPolicyVersionsCommand,
  type AttachedPolicy,
  type Policy as ListedPolicy,
  type IAMClient,
  type PolicyVersion,
} from '@aws-sdk/client-iam';
import { type PrincipalArn, principalKey, samePrincipal } from '../core/arn';
import { isAwsError, mapAwsError } from '../core/aws-errors';
import { isProvisioningError, ProvisioningError } from '../core/errors';
import {
  fitsInOnePolicy,
  grantPolicyArn,
  grantPolicyName,
  grantPolicyTags,
  grantsInDocument,
  isGrantPolicyOf,
  MAX_POLICY_VERSIONS,
  ownerOfPolicy,
  POLICY_PATH,
  PRINCIPAL_TAG,
  type PolicyFacts,
  type PolicyOwner,
  renderPolicy,
} from './policy-document';
import { DELETION_STARTED, type ExpectedPolicies, type LockDeps, withPrincipalLock } from './principal-lock';

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
  /** The principal, and how many database grants its policies hold now, this one included (the GrantsPerPrincipal metric). */
  principalArn: string;
  grantsHeld: number;
}

export const PRINCIPAL_NOT_FOUND = { NoSuchEntity: 'PrincipalNotFound', NoSuchEntityException: 'PrincipalNotFound' } as const;

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

/** Every version of a policy: IAM may page even five (it can return fewer than MaxItems with IsTruncated set). */
const policyVersions = async (iam: IAMClient, policyArn: string): Promise<PolicyVersion[]> => {
  const all: PolicyVersion[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn, Marker: marker }));
    all.push(...(page.Versions ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return all;
};

const isNoSuchEntity = (e: unknown): boolean => isAwsError(e, 'NoSuchEntity', 'NoSuchEntityException');

/** Name, path and tags of a policy: GetPolicy returns the tags, the listing calls do not. */
const readPolicyFacts = async (iam: IAMClient, policyArn: string): Promise<PolicyFacts & { defaultVersionId: string }> => {
  const policy = (await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }))).Policy;
  return { arn: policyArn, name: policy?.PolicyName ?? '', path: policy?.Path, tags: policy?.Tags ?? [], defaultVersionId: policy?.DefaultVersionId ?? 'v1' };
};

const readGrants = async (iam: IAMClient, policyArn: string, versionId: string): Promise<string[]> =>
  grantsInDocument((await iam.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: versionId }))).PolicyVersion?.Document ?? '{}');

/**
 * Reads the principal's grant policies and checks them against the versions the previous
 * lock holder wrote; a read that does not show them yet is retried (IamNotYetConsistent).
 * Every attached policy proven ours for this principal counts, whatever hash its name has (names
 * once hashed the ARN with its path); anything else attached is never read further nor changed.
 */
export const readPrincipalGrants = async (iam: IAMClient, principal: PrincipalArn, expected: ExpectedPolicies = {}): Promise<PrincipalGrants> => {
  try {
    const attached = await listAttached(iam, principal);
    const policies: GrantPolicy[] = [];
    for (const p of attached.filter((a) => a.PolicyArn?.includes(`:policy${POLICY_PATH}`))) {
      const facts = await readPolicyFacts(iam, p.PolicyArn as string);
      const owner = isGrantPolicyOf(facts, principal);
      if (owner)
        policies.push({
          slot: owner.slot,
          name: facts.name,
          arn: facts.arn,
          defaultVersionId: facts.defaultVersionId,
          grants: await readGrants(iam, facts.arn, facts.defaultVersionId),
        });
    }
    checkFencing(policies, expected);
    return { attachedCount: attached.length, policies: policies.sort((a, b) => a.slot - b.slot || a.name.localeCompare(b.name)) };
  } catch (e) {
    return mapAwsError(e, `read grant policies of ${principal.arn}`, PRINCIPAL_NOT_FOUND);
  }
};

/** The lock item is per principal, so every entry names one of this principal's policies. */
const checkFencing = (policies: GrantPolicy[], expected: ExpectedPolicies): void => {
  for (const [arn, version] of Object.entries(expected)) {
    const seen = policies.find((p) => p.arn === arn);
    const stale = version === null ? seen !== undefined : !seen || versionNumber(seen.defaultVersionId) < versionNumber(version);
    if (stale)
      throw new ProvisioningError('IamNotYetConsistent', `IAM does not show the last change to ${arn} yet (expected ${version ?? 'deleted'}); retrying`);
  }
};

/** Makes `resources` the default version of a policy, deleting the oldest version at the limit of five. */
const writePolicyVersion = async (iam: IAMClient, policyArn: string, resources: string[]): Promise<string> => {
  const versions = await policyVersions(iam, policyArn);
  if (versions.length >= MAX_POLICY_VERSIONS) {
    const oldest = versions.filter((v) => !v.IsDefaultVersion).sort((a, b) => versionNumber(a.VersionId) - versionNumber(b.VersionId))[0];
    if (oldest?.VersionId) await iam.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: oldest.VersionId }));
  }
  const out = await iam.send(
    new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument: JSON.stringify(renderPolicy(resources)), SetAsDefault: true }),
  );
  return out.PolicyVersion?.VersionId ?? 'v1';
};

/** For people reading the console only: anyone may edit a description, so it is never read back. */
const describeFor = (principal: PrincipalArn): string => `rds-db:connect grants of ${principal.arn}, managed by rds-iam-access. Do not edit by hand.`;

const createAndAttach = async (iam: IAMClient, principal: PrincipalArn, slot: number, resources: string[]): Promise<string> => {
  const arn = grantPolicyArn(principal, slot);
  let versionId = 'v1';
  try {
    await iam.send(
      new CreatePolicyCommand({
        PolicyName: grantPolicyName(principal, slot),
        Path: POLICY_PATH,
        PolicyDocument: JSON.stringify(renderPolicy(resources)),
        Description: describeFor(principal),
        Tags: grantPolicyTags(principal),
      }),
    );
  } catch (e) {
    if (!isAwsError(e, 'EntityAlreadyExists', 'EntityAlreadyExistsException')) throw e;
    // Left over from a run that created it and stopped before attaching, or taken by someone else first.
    const existing = await readPolicyFacts(iam, arn).catch((err: unknown) => (isNoSuchEntity(err) ? undefined : Promise.reject(err)));
    if (!existing || !isGrantPolicyOf(existing, principal)) {
      throw new ProvisioningError(
        'ForeignPolicyConflict',
        `IAM policy name ${grantPolicyName(principal, slot)} is taken by a policy that is not this project's ` +
          `grant policy for ${principal.arn} (its path or its ${PRINCIPAL_TAG} tag do not match); ` +
          `it is left untouched: an IAM administrator must delete it`,
        {
          details: { policyArn: arn },
        },
      );
    }
    // A retry after a reply lost or throttled between CreatePolicy and the attachment: the document is already right.
    const same = [...(await readGrants(iam, arn, existing.defaultVersionId))].sort().join() === [...resources].sort().join();
    versionId = same ? existing.defaultVersionId : await writePolicyVersion(iam, arn, resources);
  }
  if (principal.type === 'role') await iam.send(new AttachRolePolicyCommand({ RoleName: principal.name, PolicyArn: arn }));
  else await iam.send(new AttachUserPolicyCommand({ UserName: principal.name, PolicyArn: arn }));
  return versionId;
};

/** What adding one grant does to a principal's policies: decided from a read, before any write. */
export type GrantAdditionPlan =
  | { action: 'none'; policyName: string; policyArn: string }
  | { action: 'new version'; policyName: string; policyArn: string; grants: string[] }
  | { action: 'create and attach'; policyName: string; policyArn: string; slot: number; grants: string[] };

/**
 * Where a new grant goes: nowhere if present, else the first policy with room, else a new slot
 * within the configured and IAM limits. Pure: the same plan serves the run and a dry run.
 */
export const planGrantAddition = (current: PrincipalGrants, principal: PrincipalArn, resourceArn: string, limits: GrantLimits): GrantAdditionPlan => {
  const holder = current.policies.find((p) => p.grants.includes(resourceArn));
  if (holder) return { action: 'none', policyName: holder.name, policyArn: holder.arn };
  const roomy = current.policies.find((p) => fitsInOnePolicy([...p.grants, resourceArn]));
  if (roomy) return { action: 'new version', policyName: roomy.name, policyArn: roomy.arn, grants: [...roomy.grants, resourceArn] };
  const total = current.policies.reduce((n, p) => n + p.grants.length, 0);
  if (current.policies.length >= limits.maxGrantPoliciesPerPrincipal) {
    throw new ProvisioningError(
      'GrantLimitReached',
      `${principal.arn} already holds ${total} database grants in ${current.policies.length} policies, ` +
        `the configured maximum (iam.maxGrantPoliciesPerPrincipal); offboard unused database users first`,
    );
  }
  if (current.attachedCount >= limits.attachedPoliciesQuota) {
    throw new ProvisioningError(
      'GrantLimitReached',
      `${principal.arn} has ${current.attachedCount} managed policies attached, IAM's quota (iam.attachedPoliciesQuota); detach one or raise the quota`,
    );
  }
  const used = new Set(current.policies.map((p) => p.slot));
  const slot = [...Array(limits.maxGrantPoliciesPerPrincipal).keys()].find((n) => !used.has(n)) as number;
  return { action: 'create and attach', policyName: grantPolicyName(principal, slot), policyArn: grantPolicyArn(principal, slot), slot, grants: [resourceArn] };
};

/**
 * Adds one `rds-db:connect` resource to the principal's grant policies, under the principal's
 * lock. Re-adding is a no-op; the principal's other policies are never touched.
 */
export const addConnectGrant = async (
  deps: GrantDeps,
  principal: PrincipalArn,
  resourceArn: string,
  owner: string,
  principalId?: string,
): Promise<GrantChange> =>
  withPrincipalLock<GrantChange>(
    deps.lock,
    principalKey(principal),
    owner,
    async (locked, record) => {
      const { expected, finished } = await finishDeletions(deps.iam, principal, locked);
      if (finished.length) await record(expected);
      const current = await readPrincipalGrants(deps.iam, principal, expected);
      try {
        const plan = planGrantAddition(current, principal, resourceArn, deps.limits);
        const held = current.policies.reduce((n, p) => n + p.grants.length, 0);
        const change = {
          policyName: plan.policyName,
          policyArn: plan.policyArn,
          resourceArn,
          principalArn: principal.arn,
          grantsHeld: plan.action === 'none' ? held : held + 1,
        };
        if (plan.action === 'none') return { result: { outcome: 'already present', ...change } };
        const versionId =
          plan.action === 'new version'
            ? await writePolicyVersion(deps.iam, plan.policyArn, plan.grants)
            : await createAndAttach(deps.iam, principal, plan.slot, plan.grants);
        return { result: { outcome: 'added', ...change }, expected: { ...expected, [plan.policyArn]: versionId } };
      } catch (e) {
        return mapAwsError(e, `grant rds-db:connect to ${principal.arn}`, {
          ...PRINCIPAL_NOT_FOUND,
          LimitExceeded: 'GrantLimitReached',
          LimitExceededException: 'GrantLimitReached',
        });
      }
    },
    principalId,
  );

export interface GrantRemoval {
  principalArn: string;
  outcome: 'removed' | 'absent';
  /** The principal no longer exists in IAM: often the reason for offboarding, not an error. */
  principalDeleted: boolean;
  policies: Array<{ policyArn: string; change: 'updated' | 'deleted' }>;
}

export interface GrantRemovalStep {
  policyArn: string;
  policyName: string;
  /** A policy left without grants is detached and deleted; otherwise it gets a new version. */
  change: 'updated' | 'deleted';
  remaining: string[];
}

/** Which of the principal's policies lose the grant, and how. Pure, like planGrantAddition. */
export const planGrantRemoval = (policies: GrantPolicy[], resourceArn: string): GrantRemovalStep[] =>
  policies
    .filter((p) => p.grants.includes(resourceArn))
    .map((p) => {
      const remaining = p.grants.filter((g) => g !== resourceArn);
      return { policyArn: p.arn, policyName: p.name, change: remaining.length ? 'updated' : 'deleted', remaining };
    });

/**
 * The principal's grant policies wherever they are: attached ones while the principal exists; once
 * it is gone (its policies were detached before IAM let it be deleted), every policy under the path
 * proven ours for it, whatever hash its name has.
 */
export const grantPoliciesOf = async (
  iam: IAMClient,
  principal: PrincipalArn,
  expected: ExpectedPolicies = {},
): Promise<{ policies: GrantPolicy[]; principalDeleted: boolean }> => {
  try {
    return { policies: (await readPrincipalGrants(iam, principal, expected)).policies, principalDeleted: false };
  } catch (e) {
    if (!isProvisioningError(e, 'PrincipalNotFound')) throw e;
  }
  const policies = (await listPathPolicies(iam))
    .filter((p) => p.owner && samePrincipal(p.owner.principal, principal))
    .map((p) => ({ slot: (p.owner as PolicyOwner).slot, name: p.policyName, arn: p.policyArn, defaultVersionId: p.defaultVersionId, grants: p.grants }));
  checkFencing(policies, expected);
  return { policies, principalDeleted: true };
};

/** IAM refuses to delete a managed policy that still has non-default versions, or is attached. */
const deleteGrantPolicy = async (iam: IAMClient, principal: PrincipalArn, policyArn: string, attached: boolean): Promise<void> => {
  if (attached) {
    if (principal.type === 'role') await iam.send(new DetachRolePolicyCommand({ RoleName: principal.name, PolicyArn: policyArn }));
    else await iam.send(new DetachUserPolicyCommand({ UserName: principal.name, PolicyArn: policyArn }));
  }
  const versions = await policyVersions(iam, policyArn);
  for (const v of versions.filter((x) => !x.IsDefaultVersion)) await iam.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: v.VersionId }));
  await iam.send(new DeletePolicyCommand({ PolicyArn: policyArn }));
};

/** A detach or delete that finds nothing to act on: the interrupted run (or IAM) already did it. */
const unlessGone = async (call: Promise<unknown>): Promise<void> => {
  await call.catch((e: unknown) => (isNoSuchEntity(e) ? undefined : Promise.reject(e)));
};

/**
 * Finishes the deletions a holder started and did not finish (DELETION_STARTED in the lock item), before
 * anything reads the principal's grants: until then a detached policy still naming its grant looks like a
 * write IAM does not show yet, and a create of its slot would write into it. A policy under that name that
 * is no longer provably ours for this principal is left alone. Returns the tokens with those deletions done
 * and what the finished policies granted.
 */
const finishDeletions = async (
  iam: IAMClient,
  principal: PrincipalArn,
  expected: ExpectedPolicies,
): Promise<{ expected: ExpectedPolicies; finished: Array<{ policyArn: string; grants: string[] }> }> => {
  const next: ExpectedPolicies = { ...expected };
  const finished: Array<{ policyArn: string; grants: string[] }> = [];
  try {
    for (const [policyArn, token] of Object.entries(expected)) {
      if (token !== DELETION_STARTED) continue;
      const facts = await readPolicyFacts(iam, policyArn).catch((e: unknown) => (isNoSuchEntity(e) ? undefined : Promise.reject(e)));
      if (facts && isGrantPolicyOf(facts, principal)) {
        const grants = await readGrants(iam, policyArn, facts.defaultVersionId).catch((e: unknown) => (isNoSuchEntity(e) ? [] : Promise.reject(e)));
        if (principal.type === 'role') await unlessGone(iam.send(new DetachRolePolicyCommand({ RoleName: principal.name, PolicyArn: policyArn })));
        else await unlessGone(iam.send(new DetachUserPolicyCommand({ UserName: principal.name, PolicyArn: policyArn })));
        for (const v of (await policyVersions(iam, policyArn)).filter((x) => !x.IsDefaultVersion))
          await unlessGone(iam.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: v.VersionId })));
        await unlessGone(iam.send(new DeletePolicyCommand({ PolicyArn: policyArn })));
        finished.push({ policyArn, grants });
      }
      next[policyArn] = null;
    }
  } catch (e) {
    return mapAwsError(e, `finish deleting a grant policy of ${principal.arn}`);
  }
  return { expected: next, finished };
};

/**
 * Removes one `rds-db:connect` resource from the principal's grant policies, under the
 * principal's lock; a policy left empty is detached and deleted. The principal's other grants
 * and policies are kept. A principal already deleted from IAM is not an error.
 * `guard` runs under the lock before anything is read, and throws to change nothing: the scheduled repair re-checks
 * there that the grant is still dangling, since no grant can be added while the lock is held (review/repair.ts).
 */
export const removeConnectGrant = async (
  deps: GrantDeps,
  principal: PrincipalArn,
  resourceArn: string,
  owner: string,
  guard?: () => Promise<void>,
): Promise<GrantRemoval> =>
  withPrincipalLock<GrantRemoval>(deps.lock, principalKey(principal), owner, async (locked, record) => {
    if (guard) await guard();
    const { expected, finished } = await finishDeletions(deps.iam, principal, locked);
    if (finished.length) await record(expected);
    const { policies, principalDeleted } = await grantPoliciesOf(deps.iam, principal, expected);
    const plan = planGrantRemoval(policies, resourceArn);
    const next: ExpectedPolicies = { ...expected };
    // A deletion this request started before it was stopped counts as its removal.
    const changes: GrantRemoval['policies'] = finished
      .filter((f) => f.grants.includes(resourceArn))
      .map((f) => ({ policyArn: f.policyArn, change: 'deleted' }));
    try {
      for (const p of plan) {
        if (p.change === 'deleted') {
          await record({ ...next, [p.policyArn]: DELETION_STARTED });
          await deleteGrantPolicy(deps.iam, principal, p.policyArn, !principalDeleted);
          next[p.policyArn] = null;
        } else {
          next[p.policyArn] = await writePolicyVersion(deps.iam, p.policyArn, p.remaining);
        }
        changes.push({ policyArn: p.policyArn, change: p.change });
      }
    } catch (e) {
      return mapAwsError(e, `revoke rds-db:connect from ${principal.arn}`, PRINCIPAL_NOT_FOUND);
    }
    return {
      result: { principalArn: principal.arn, outcome: changes.length ? 'removed' : 'absent', principalDeleted, policies: changes },
      expected: changes.length || finished.length ? next : undefined,
    };
  });

/** A policy under the project's path, as IAM shows it: whose it provably is (if anyone's), and what it allows. */
export interface PathPolicy {
  policyArn: string;
  policyName: string;
  defaultVersionId: string;
  /** Undefined when it is not provably this project's: never edited, never acted on. */
  owner?: PolicyOwner;
  grants: string[];
}

/**
 * One policy under the path, read while other executions may change it: a policy deleted between the listing and the
 * read grants nothing any more (undefined); a default version deleted between GetPolicy and GetPolicyVersion means a
 * newer one exists, which is read instead.
 */
const readPathPolicy = async (iam: IAMClient, policyArn: string, attempts = 3): Promise<PathPolicy | undefined> => {
  let facts: Awaited<ReturnType<typeof readPolicyFacts>>;
  try {
    facts = await readPolicyFacts(iam, policyArn);
  } catch (e) {
    if (isNoSuchEntity(e)) return undefined;
    throw e;
  }
  try {
    const owner = ownerOfPolicy(facts);
    return {
      policyArn,
      policyName: facts.name,
      defaultVersionId: facts.defaultVersionId,
      ...(owner ? { owner } : {}),
      grants: await readGrants(iam, policyArn, facts.defaultVersionId),
    };
  } catch (e) {
    if (!isNoSuchEntity(e)) throw e;
    if (attempts <= 1) throw new ProvisioningError('IamNotYetConsistent', `the default version of ${policyArn} changed under every read; retrying`);
    return readPathPolicy(iam, policyArn, attempts - 1);
  }
};

/** Every customer-managed policy under the project's path, as ListPolicies pages them. */
async function* listedPathPolicies(iam: IAMClient): AsyncGenerator<ListedPolicy & { Arn: string }> {
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListPoliciesCommand({ Scope: 'Local', PathPrefix: POLICY_PATH, Marker: marker }));
    for (const p of page.Policies ?? []) if (p.Arn) yield { ...p, Arn: p.Arn };
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
}

/** Every policy under /rds-iam-access/, whoever made it (IAM cannot keep others from creating policies there). */
export const listPathPolicies = async (iam: IAMClient): Promise<PathPolicy[]> => {
  const found: PathPolicy[] = [];
  try {
    for await (const listed of listedPathPolicies(iam)) {
      const policy = await readPathPolicy(iam, listed.Arn);
      if (policy) found.push(policy);
    }
  } catch (e) {
    return mapAwsError(e, 'list the policies under the path of this project');
  }
  return found;
};

/** A policy under the project's path with its attachments, for the access review. */
export interface ProjectGrantPolicy {
  policyArn: string;
  policyName: string;
  /** The principal it is provably this project's grant policy for (ARN without path); undefined: not ours. */
  principalArn?: string;
  /** Ours, created before the principal tag (its name hashed the ARN with its path). */
  legacy?: boolean;
  attached: boolean;
  /** Who it is really attached to (IAM reports names, not paths): roles and users as ARNs without path, groups as group ARNs. */
  attachedTo: string[];
  grants: string[];
}

/** The roles, users and groups a policy is attached to, as ARNs (without path: IAM lists names). */
const policyEntities = async (iam: IAMClient, policyArn: string): Promise<string[]> => {
  const [, partition, , , accountId] = policyArn.split(':');
  const arn = (kind: string, name: string | undefined): string => `arn:${partition}:iam::${accountId}:${kind}/${name}`;
  const entities: string[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListEntitiesForPolicyCommand({ PolicyArn: policyArn, Marker: marker }));
    entities.push(
      ...(page.PolicyRoles ?? []).map((r) => arn('role', r.RoleName)),
      ...(page.PolicyUsers ?? []).map((u) => arn('user', u.UserName)),
      ...(page.PolicyGroups ?? []).map((g) => arn('group', g.GroupName)),
    );
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return entities;
};

/** Every policy under the project's path, read in full with its attachments (ours or not: the review shows both). */
export const listGrantPolicies = async (iam: IAMClient): Promise<ProjectGrantPolicy[]> => {
  const found: ProjectGrantPolicy[] = [];
  for (const p of await listPathPolicies(iam)) {
    const attachedTo = await policyEntities(iam, p.policyArn).catch((e: unknown) => mapAwsError(e, `list the attachments of ${p.policyArn}`));
    found.push({
      policyArn: p.policyArn,
      policyName: p.policyName,
      ...(p.owner ? { principalArn: p.owner.principal.arn, ...(p.owner.legacy ? { legacy: true } : {}) } : {}),
      attached: attachedTo.length > 0,
      attachedTo,
      grants: p.grants,
    });
  }
  return found;
};

/**
 * What each policy version under the path grants, by PolicyId and version id: IAM never changes a version's
 * document (a new document is a new version; a policy created again under its name has a new PolicyId), so
 * an entry never goes stale. It lets a warm container search the holders with one ListPolicies page per 100
 * policies instead of reading every policy again (the soak's offboardings without a principal spent their
 * IAM read rate on exactly that). Ownership is never cached: every candidate is read and proven again.
 */
const versionGrants = new Map<string, string[]>();
const VERSION_GRANTS_MAX = 20_000;

/** What one listed policy's default version grants, from the cache or IAM; undefined: it changed or went meanwhile. */
const listedGrants = async (iam: IAMClient, p: { Arn: string; PolicyId?: string; DefaultVersionId?: string }): Promise<string[] | undefined> => {
  if (!p.DefaultVersionId) return undefined;
  const key = p.PolicyId ? `${p.PolicyId}/${p.DefaultVersionId}` : undefined;
  const cached = key ? versionGrants.get(key) : undefined;
  if (cached) return cached;
  const grants = await readGrants(iam, p.Arn, p.DefaultVersionId).catch((e: unknown) => (isNoSuchEntity(e) ? undefined : Promise.reject(e)));
  if (grants && key) {
    if (versionGrants.size >= VERSION_GRANTS_MAX) versionGrants.clear();
    versionGrants.set(key, grants);
  }
  return grants;
};

/**
 * Every principal whose grant policies (provably this project's) allow `resourceArn`: for offboarding without a
 * principal. A policy whose listed version grants the resource (or that changed while listed) is read again in
 * full and its ownership proven; the others cannot hold the grant and cost no more reads once cached.
 */
export const findGrantHolders = async (iam: IAMClient, resourceArn: string): Promise<PrincipalArn[]> => {
  const holders = new Map<string, PrincipalArn>();
  try {
    for await (const listed of listedPathPolicies(iam)) {
      const grants = await listedGrants(iam, listed);
      if (grants && !grants.includes(resourceArn)) continue;
      const policy = await readPathPolicy(iam, listed.Arn);
      if (policy?.owner && policy.grants.includes(resourceArn)) holders.set(principalKey(policy.owner.principal), policy.owner.principal);
    }
  } catch (e) {
    return mapAwsError(e, 'list the policies under the path of this project');
  }
  return [...holders.values()];
};
