/**
 * The real workflows and loops against the simulation with its faults on: IAM throttling, eventually consistent IAM
 * reads, small pages, ConcurrentModification, one-off faults (what the simulation itself does: test/unit/dev/simulation.test.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DetachRolePolicyCommand,
  IAMClient,
  ListPolicyVersionsCommand,
} from '@aws-sdk/client-iam';
import { afterEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn, parsePrincipalArn } from '../../functions/lib/core/arn';
import { isProvisioningError } from '../../functions/lib/core/errors';
import { addConnectGrant, type GrantDeps, listGrantPolicies, removeConnectGrant } from '../../functions/lib/iam/grants';
import { POLICY_PATH } from '../../functions/lib/iam/policy-document';
import { type ExecutionRecord, statePath } from '../../dev/asl-runner';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../dev/sandbox';
import { iamFaults, type IamSimulationOptions } from '../../dev/simulated-aws';
import { roleFacts, testPg, uniqueName } from '../support/pg';
// ---------------------------------------------------------------- the workflows against it

const ACCOUNT = '123456789012';

let sb: Sandbox | undefined;
afterEach(() => {
  sb?.restore();
  sb = undefined;
});

/** The state machines' own backoff and jitter, ten times faster. */
const sandbox = (iam: IamSimulationOptions, extra: Partial<SandboxOptions> = {}): Sandbox =>
  (sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.1, iam, ...extra }));

const outcome = (r: ExecutionRecord): string => `${r.status}${r.error ? ` ${r.error}: ${r.cause}` : ''}`;
/** Errors the state machine met and retried in a run that succeeded. */
const retriedErrors = (runs: ExecutionRecord[]): string[] =>
  runs
    .flatMap((r) => r.events)
    .filter((e) => e.type === 'StateFailed')
    .map((e) => (e as { Error?: string }).Error ?? '');
const grantsOf = (s: Sandbox, role: string): string[] => s.aws.iam.connectGrants('role', role).sort();
const resourceOf = (s: Sandbox, dbUser: string): string =>
  dbUserResourceArn({
    partition: 'aws',
    region: 'eu-west-1',
    accountId: ACCOUNT,
    resourceId: s.aws.rds.databases.get('instance/orders-db')!.resourceId,
    dbUser,
  });

describe('workflows with IAM throttled', () => {
  // Retries run ten times faster than deployed (retryScale 0.1), so 50 calls/s here is 5 calls/s as the workflow sees it.
  it('sixteen onboardings at once against 5 mutating IAM calls/s (in deployed time) all succeed: Throttling is retried, nothing compensated', async () => {
    const s = sandbox({ throttle: { ratePerSecond: 50, burst: 5 } });
    // On a fresh server the first onboardings race to create the marker role (AdminLacksPrivilege, a separate issue
    // in postgres/onboard.ts): one onboarding first, so this test measures IAM throttling alone.
    expect(
      outcome(
        await s.runner.run('onboard', uniqueName('req'), {
          requestId: uniqueName('req'),
          principalArn: s.aws.iam.addRole(uniqueName('Warm')),
          target: 'orders',
        }),
      ),
    ).toBe('SUCCEEDED');
    const roles = Array.from({ length: 16 }, (_, i) => uniqueName(`Throttled${i}`));
    const runs = await Promise.all(
      roles.map((role) =>
        s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn: s.aws.iam.addRole(role), target: 'orders' }),
      ),
    );
    expect(runs.map(outcome)).toEqual(runs.map(() => 'SUCCEEDED'));
    expect(runs.flatMap(statePath)).not.toContain('CompensateDbUser');
    expect(s.aws.iam.stats.throttled).toBeGreaterThan(0);
    expect(retriedErrors(runs)).toContain('TransientAwsError');
    for (const role of roles) expect(grantsOf(s, role)).toEqual([resourceOf(s, role)]);
  });
});

describe('workflows with IAM reads eventually consistent', () => {
  it('concurrent onboardings and offboardings of one principal: all succeed, the fencing token makes stale reads retry, no grant is lost', async () => {
    const s = sandbox({ consistencyLagMs: 150 });
    const role = uniqueName('Lagging');
    const principalArn = s.aws.iam.addRole(role);
    s.aws.iam.settle();
    const users = Array.from({ length: 5 }, (_, i) => uniqueName(`lag${i}`).toLowerCase());
    const onboardings = await Promise.all(
      users.map((dbUser) => s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' })),
    );
    expect(onboardings.map(outcome)).toEqual(onboardings.map(() => 'SUCCEEDED'));
    expect(grantsOf(s, role)).toEqual(users.map((u) => resourceOf(s, u)).sort());
    const offboardings = await Promise.all(
      users.slice(0, 2).map((dbUser) => s.runner.run('offboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' })),
    );
    expect(offboardings.map(outcome)).toEqual(offboardings.map(() => 'SUCCEEDED'));
    expect(grantsOf(s, role)).toEqual(
      users
        .slice(2)
        .map((u) => resourceOf(s, u))
        .sort(),
    );
    expect(retriedErrors([...onboardings, ...offboardings])).toContain('IamNotYetConsistent');
    expect(s.aws.iam.stats.laggedReads).toBeGreaterThan(0);
  });
});

describe('every IAM and identity-store loop reads every page (page size 1)', () => {
  it('more versions than IAM keeps, offboarding without a principal, deleting a many-version policy, the access review', async () => {
    const s = sandbox({ pageSize: 1 }, { retryMs: 5 });
    const role = uniqueName('Paged');
    const principalArn = s.aws.iam.addRole(role);
    // Another principal's policy under the path, and a foreign one attached first: the listings have several pages.
    const other = uniqueName('PagedOther');
    s.aws.iam.attachForeignPolicy('role', role, uniqueName('team-policy'), { Version: '2012-10-17', Statement: [] });
    const onboard = (principal: string, dbUser: string) =>
      s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn: principal, dbUser, target: 'orders' });
    expect(outcome(await onboard(s.aws.iam.addRole(other), uniqueName('paged_other').toLowerCase()))).toBe('SUCCEEDED');
    // Seven grants: seven versions of one policy, of which IAM keeps five (ListPolicyVersions must be read in full).
    const users = Array.from({ length: 7 }, (_, i) => uniqueName(`paged${i}`).toLowerCase());
    for (const dbUser of users) expect(outcome(await onboard(principalArn, dbUser))).toBe('SUCCEEDED');
    expect(grantsOf(s, role)).toEqual(users.map((u) => resourceOf(s, u)).sort());
    const ours = [...s.aws.iam.policies.values()].filter((p) => p.path === POLICY_PATH && s.aws.iam.roles.get(role)?.attached.includes(p.arn));
    expect(ours.map((p) => p.versions.length)).toEqual([5]);

    // The access review lists a policy's attachments over pages: attach ours to a second role by hand.
    const second = uniqueName('PagedSecond');
    s.aws.iam.addRole(second);
    s.aws.iam.attach('role', second, ours[0].arn);
    const review = await listGrantPolicies(new IAMClient({}));
    expect(review.find((p) => p.policyArn === ours[0].arn)?.attachedTo.sort()).toEqual(
      [`arn:aws:iam::${ACCOUNT}:role/${role}`, `arn:aws:iam::${ACCOUNT}:role/${second}`].sort(),
    );
    expect(review.some((p) => p.grants.length === 1 && p.policyArn !== ours[0].arn)).toBe(true);
    await new IAMClient({}).send(new DetachRolePolicyCommand({ RoleName: second, PolicyArn: ours[0].arn }));

    // Offboarding without a principal finds the holder through every page of ListPolicies.
    const offboard = (dbUser: string, withPrincipal: boolean) =>
      s.runner.run('offboard', uniqueName('req'), { requestId: uniqueName('req'), dbUser, target: 'orders', ...(withPrincipal ? { principalArn } : {}) });
    const found = await offboard(users[0], false);
    expect(outcome(found)).toBe('SUCCEEDED');
    expect(grantsOf(s, role)).toEqual(
      users
        .slice(1)
        .map((u) => resourceOf(s, u))
        .sort(),
    );
    // The last grants go: the policy, with its five versions, is deleted (every version listed and deleted first).
    for (const dbUser of users.slice(1)) expect(outcome(await offboard(dbUser, true))).toBe('SUCCEEDED');
    expect(grantsOf(s, role)).toEqual([]);
    expect(s.aws.iam.policies.has(ours[0].arn)).toBe(false);
    expect((await roleFacts(users[6])).exists).toBe(false);
  });
});

describe('ConcurrentModification and one-off faults, retried to success', () => {
  it('a seeded 30% of IAM writes refused with ConcurrentModificationException: every run succeeds', async () => {
    const s = sandbox({ concurrentModificationRate: 0.3, seed: 11 });
    const role = uniqueName('Conflicted');
    const principalArn = s.aws.iam.addRole(role);
    const users = Array.from({ length: 4 }, (_, i) => uniqueName(`cm${i}`).toLowerCase());
    const runs: ExecutionRecord[] = [];
    for (const dbUser of users)
      runs.push(await s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' }));
    for (const dbUser of users.slice(0, 2))
      runs.push(await s.runner.run('offboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' }));
    expect(runs.map(outcome)).toEqual(runs.map(() => 'SUCCEEDED'));
    expect(grantsOf(s, role)).toEqual(
      users
        .slice(2)
        .map((u) => resourceOf(s, u))
        .sort(),
    );
    expect(s.aws.iam.stats.concurrentModifications).toBeGreaterThan(0);
    expect(retriedErrors(runs)).toContain('TransientAwsError');
  });

  it('a CreatePolicy whose reply is lost, then an attachment refused once: the retry reuses the policy and attaches it', async () => {
    const s = sandbox({});
    const role = uniqueName('LostReply');
    const principalArn = s.aws.iam.addRole(role);
    s.aws.iam.faults.next('CreatePolicy', iamFaults.timeout(), { afterEffect: true }).next('AttachRolePolicy', iamFaults.concurrentModification());
    const run = await s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, target: 'orders' });
    expect(outcome(run)).toBe('SUCCEEDED');
    expect(grantsOf(s, role)).toEqual([resourceOf(s, role)]);
    expect(s.aws.iam.faults.fired).toEqual({ CreatePolicy: 1, AttachRolePolicy: 1 });
    // Lost reply, then EntityAlreadyExists twice: the policy is ours and already says the right thing, so no version is written.
    expect(s.aws.stubs.iam.commandCalls(CreatePolicyCommand)).toHaveLength(3);
    expect(s.aws.stubs.iam.commandCalls(CreatePolicyVersionCommand)).toHaveLength(0);
    expect(s.aws.stubs.iam.commandCalls(AttachRolePolicyCommand)).toHaveLength(2);
  });

  it('the next DeletePolicyVersion and CreatePolicyVersion fail once each: revocation and grant retry and finish', async () => {
    const s = sandbox({});
    const role = uniqueName('Faulty');
    const principalArn = s.aws.iam.addRole(role);
    const deps: GrantDeps = {
      iam: new IAMClient({}),
      lock: { ddb: new DynamoDBClient({ region: 'eu-west-1' }), table: 'locks' },
      limits: { attachedPoliciesQuota: 10, maxGrantPoliciesPerPrincipal: 4 },
    };
    const principal = parsePrincipalArn(principalArn);
    const arn = (u: string) => resourceOf(s, u);
    for (const u of ['a', 'b', 'c', 'd', 'e']) await addConnectGrant(deps, principal, arn(u), `req-${u}`);
    s.aws.iam.faults.next('DeletePolicyVersion', iamFaults.serviceFailure()).next('CreatePolicyVersion', iamFaults.throttling());
    const retrying = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn();
        } catch (e) {
          if (!isProvisioningError(e) || !e.retryable || attempt > 5) throw e;
        }
      }
    };
    // At five versions the oldest is deleted first: that delete fails once, then the version write.
    await retrying(() => removeConnectGrant(deps, principal, arn('a'), 'req-x'));
    expect(s.aws.iam.faults.fired).toEqual({ DeletePolicyVersion: 1, CreatePolicyVersion: 1 });
    expect(grantsOf(s, role)).toEqual(['b', 'c', 'd', 'e'].map(arn).sort());
    expect(
      (await new IAMClient({}).send(new ListPolicyVersionsCommand({ PolicyArn: [...s.aws.iam.roles.get(role)!.attached][0] }))).Versions?.length,
    ).toBeLessThanOrEqual(5);
  });
});
