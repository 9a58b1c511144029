import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  AttachRolePolicyCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  TagPolicyCommand,
} from '@aws-sdk/client-iam';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn, parsePrincipalArn, principalKey } from '../../../functions/lib/core/arn';
import { isProvisioningError } from '../../../functions/lib/core/errors';
import { addConnectGrant, findGrantHolders, type GrantDeps, removeConnectGrant } from '../../../functions/lib/iam/grants';
import {
  grantPolicyArn,
  grantPolicyName,
  grantPolicyTags,
  MANAGED_POLICY_MAX_CHARS,
  ownerOfPolicy,
  POLICY_PATH,
  PRINCIPAL_TAG,
  renderPolicy,
} from '../../../functions/lib/iam/policy-document';
import { iamFaults, SimulatedAws } from '../../../dev/simulated-aws';

const ACCOUNT = '123456789012';
const RESOURCE = 'db-ABCDEFGHIJKLMNOPQRSTUVWXY1';

/** Asks the IAM policy evaluator whether these identity policies allow the request. */
const allowed = async (policies: object[], principal: string, resource: string, action = 'rds-db:connect'): Promise<boolean> => {
  const result = await runSimulation(
    {
      request: { principal, action, resource: { resource, accountId: ACCOUNT }, contextVariables: {} },
      identityPolicies: policies.map((policy, i) => ({ name: `p${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(result.errors.message);
  return result.overallResult === 'Allowed';
};

const arn = (dbUser: string, resourceId = RESOURCE, region = 'eu-west-1', partition: 'aws' | 'aws-cn' | 'aws-us-gov' = 'aws') =>
  dbUserResourceArn({ partition, region, accountId: ACCOUNT, resourceId, dbUser });

describe('rds-db:connect resource ARNs', () => {
  it('names the instance resource id, the cluster resource id, and the partition', () => {
    expect(arn('alice')).toBe(`arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:${RESOURCE}/alice`);
    expect(arn('alice', 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXY1')).toBe(`arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:cluster-ABCDEFGHIJKLMNOPQRSTUVWXY1/alice`);
    expect(arn('alice', RESOURCE, 'cn-north-1', 'aws-cn')).toBe(`arn:aws-cn:rds-db:cn-north-1:${ACCOUNT}:dbuser:${RESOURCE}/alice`);
    expect(arn('alice', RESOURCE, 'us-gov-west-1', 'aws-us-gov')).toBe(`arn:aws-us-gov:rds-db:us-gov-west-1:${ACCOUNT}:dbuser:${RESOURCE}/alice`);
  });
});

describe('generated policies, evaluated', () => {
  const role = `arn:aws:iam::${ACCOUNT}:role/app`;
  const policy = renderPolicy([arn('alice')]);

  it('allow connect as that user on that resource', async () => {
    expect(await allowed([policy], role, arn('alice'))).toBe(true);
  });
  it('deny another user, a name sharing the prefix, and a different case', async () => {
    expect(await allowed([policy], role, arn('bob'))).toBe(false);
    expect(await allowed([policy], role, arn('alice2'))).toBe(false);
    expect(await allowed([policy], role, arn('alic'))).toBe(false);
    expect(await allowed([policy], role, arn('Alice'))).toBe(false);
  });
  it('deny another resource id (another instance, or the Aurora cluster)', async () => {
    expect(await allowed([policy], role, arn('alice', 'db-ZZZZZZZZZZZZZZZZZZZZZZZZZZ'))).toBe(false);
    expect(await allowed([policy], role, arn('alice', 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXY1'))).toBe(false);
    expect(await allowed([policy], role, arn('alice', RESOURCE, 'eu-central-1'))).toBe(false);
  });
  it('deny another action', async () => {
    expect(await allowed([policy], role, `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders`, 'rds:DeleteDBInstance')).toBe(false);
    expect(await allowed([policy], role, `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders`, 'rds:ModifyDBInstance')).toBe(false);
  });
  it('an aws-cn and an aws-us-gov grant allow exactly their own partition', async () => {
    const cnRole = `arn:aws-cn:iam::${ACCOUNT}:role/app`;
    const cn = renderPolicy([arn('alice', RESOURCE, 'cn-north-1', 'aws-cn')]);
    expect(await allowed([cn], cnRole, arn('alice', RESOURCE, 'cn-north-1', 'aws-cn'))).toBe(true);
    expect(await allowed([cn], cnRole, arn('bob', RESOURCE, 'cn-north-1', 'aws-cn'))).toBe(false);
    const govRole = `arn:aws-us-gov:iam::${ACCOUNT}:role/app`;
    const gov = renderPolicy([arn('alice', RESOURCE, 'us-gov-west-1', 'aws-us-gov')]);
    expect(await allowed([gov], govRole, arn('alice', RESOURCE, 'us-gov-west-1', 'aws-us-gov'))).toBe(true);
  });
});

// Page size 1 as well: every List* answer is one item long, so each paging loop must follow IsTruncated/Marker.
describe.each([{ pageSize: undefined }, { pageSize: 1 }])('granting through IAM (simulated IAM at the SDK boundary, page size $pageSize)', ({ pageSize }) => {
  let aws: SimulatedAws;
  let deps: GrantDeps;
  beforeEach(() => {
    aws = new SimulatedAws(ACCOUNT).install();
    aws.iam.configure({ pageSize });
    deps = {
      iam: new IAMClient({ region: 'us-east-1' }),
      lock: { ddb: new DynamoDBClient({ region: 'eu-west-1' }), table: 'locks' },
      limits: { attachedPoliciesQuota: 10, maxGrantPoliciesPerPrincipal: 4 },
    };
  });
  afterEach(() => aws.restore());

  /** The state machine's Retry on GrantLockBusy / IamNotYetConsistent, in miniature. */
  const withRetry = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isProvisioningError(e) || !e.retryable || attempt > 200) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * 5));
      }
    }
  };

  const dbUserName = (i: number) => `user_number_${String(i).padStart(3, '0')}`;

  it('100 grants on one role fit, each allowed, within the policy size and the per-principal maximum', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('many-grants'));
    for (let i = 0; i < 100; i++) await addConnectGrant(deps, principal, arn(dbUserName(i)), `req-${i}`);
    const docs = aws.iam.attachedDocuments('role', 'many-grants');
    expect(docs.length).toBeLessThanOrEqual(deps.limits.maxGrantPoliciesPerPrincipal);
    for (const d of docs) expect(JSON.stringify(d).length).toBeLessThanOrEqual(MANAGED_POLICY_MAX_CHARS);
    for (const i of [0, 1, 42, 63, 64, 65, 99]) expect(await allowed(docs, principal.arn, arn(dbUserName(i)))).toBe(true);
    expect(await allowed(docs, principal.arn, arn(dbUserName(100)))).toBe(false);
    const all = docs.flatMap((d) => (d as { Statement: Array<{ Resource: string[] }> }).Statement.flatMap((s) => s.Resource));
    expect(new Set(all).size).toBe(100);
  });

  it('50 grants on one IAM user fit', async () => {
    const principal = parsePrincipalArn(aws.iam.addUser('human'));
    for (let i = 0; i < 50; i++) await addConnectGrant(deps, principal, arn(dbUserName(i)), `req-${i}`);
    const docs = aws.iam.attachedDocuments('user', 'human');
    for (const i of [0, 25, 49]) expect(await allowed(docs, principal.arn, arn(dbUserName(i)))).toBe(true);
    expect(docs.flatMap((d) => (d as { Statement: Array<{ Resource: string[] }> }).Statement.flatMap((s) => s.Resource))).toHaveLength(50);
  });

  it('ten concurrent grants for the same principal all land (no lost update)', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('busy'));
    await addConnectGrant(deps, principal, arn('seed'), 'req-seed');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => withRetry(() => addConnectGrant(deps, principal, arn(`concurrent_${i}`), `req-c${i}`))),
    );
    expect(results.every((r) => r.outcome === 'added')).toBe(true);
    const docs = aws.iam.attachedDocuments('role', 'busy');
    for (let i = 0; i < 10; i++) expect(await allowed(docs, principal.arn, arn(`concurrent_${i}`))).toBe(true);
    expect(await allowed(docs, principal.arn, arn('seed'))).toBe(true);
    // IAM keeps five versions at most; older ones were deleted on the way.
    const ours = [...aws.iam.policies.values()].filter((p) => p.path === POLICY_PATH);
    for (const p of ours) expect(p.versions.length).toBeLessThanOrEqual(5);
  });

  it("keeps the principal's other policies and re-adding is a no-op without IAM writes", async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('mixed'));
    const foreign = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }] };
    aws.iam.attachForeignPolicy('role', 'mixed', 'team-s3-read', foreign);
    const first = await addConnectGrant(deps, principal, arn('alice'), 'req-1');
    expect(first).toEqual({
      outcome: 'added',
      policyName: grantPolicyName(principal, 0),
      policyArn: grantPolicyArn(principal, 0),
      resourceArn: arn('alice'),
      principalArn: principal.arn,
      grantsHeld: 1,
    });
    const writes = () =>
      aws.stubs.iam.commandCalls(CreatePolicyCommand).length +
      aws.stubs.iam.commandCalls(CreatePolicyVersionCommand).length +
      aws.stubs.iam.commandCalls(AttachRolePolicyCommand).length +
      aws.stubs.iam.commandCalls(DeletePolicyVersionCommand).length;
    expect(writes()).toBe(2); // CreatePolicy + AttachRolePolicy
    const createInput = aws.stubs.iam.commandCalls(CreatePolicyCommand)[0].args[0].input;
    expect(createInput).toMatchObject({
      PolicyName: grantPolicyName(principal, 0),
      Path: POLICY_PATH,
      Tags: [{ Key: PRINCIPAL_TAG, Value: `aws:${ACCOUNT}:role:mixed` }],
    });
    expect(JSON.parse(createInput.PolicyDocument as string)).toEqual(renderPolicy([arn('alice')]));
    expect(aws.stubs.iam.commandCalls(AttachRolePolicyCommand)[0].args[0].input).toEqual({ RoleName: 'mixed', PolicyArn: grantPolicyArn(principal, 0) });

    const again = await addConnectGrant(deps, principal, arn('alice'), 'req-2');
    expect(again.outcome).toBe('already present');
    expect(again.grantsHeld).toBe(1);
    expect(writes()).toBe(2);
    const docs = aws.iam.attachedDocuments('role', 'mixed');
    expect(docs).toContainEqual(foreign);
    expect(await allowed(docs, principal.arn, 'arn:aws:s3:::bucket/key', 's3:GetObject')).toBe(true);
  });

  it('a second grant updates the same policy with one new version', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('two'));
    await addConnectGrant(deps, principal, arn('alice'), 'req-1');
    const second = await addConnectGrant(deps, principal, arn('bob'), 'req-2');
    expect(second.policyArn).toBe(grantPolicyArn(principal, 0));
    const input = aws.stubs.iam.commandCalls(CreatePolicyVersionCommand)[0].args[0].input;
    expect(input.SetAsDefault).toBe(true);
    expect(JSON.parse(input.PolicyDocument as string)).toEqual(renderPolicy([arn('alice'), arn('bob')]));
  });

  it('the limit reached gives a clear error and changes nothing', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('full'));
    const small = { ...deps, limits: { attachedPoliciesQuota: 10, maxGrantPoliciesPerPrincipal: 1 } };
    let i = 0;
    let error: unknown;
    for (; i < 200 && !error; i++)
      error = await addConnectGrant(small, principal, arn(dbUserName(i)), `req-${i}`).then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isProvisioningError(error, 'GrantLimitReached')).toBe(true);
    expect((error as Error).message).toMatch(/maxGrantPoliciesPerPrincipal/);
    expect(i).toBeGreaterThan(50); // one managed policy holds 60+ grants
    const before = JSON.stringify(aws.iam.attachedDocuments('role', 'full'));
    await expect(addConnectGrant(small, principal, arn('one_more'), 'req-x')).rejects.toMatchObject({ code: 'GrantLimitReached' });
    expect(JSON.stringify(aws.iam.attachedDocuments('role', 'full'))).toBe(before);
  });

  it("IAM's attached-policy quota reached: clear error, no policy created", async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('crowded'));
    for (let p = 0; p < 10; p++) aws.iam.attachForeignPolicy('role', 'crowded', `other-${p}`, { Version: '2012-10-17', Statement: [] });
    await expect(addConnectGrant(deps, principal, arn('alice'), 'req-1')).rejects.toMatchObject({
      code: 'GrantLimitReached',
      message: expect.stringMatching(/attachedPoliciesQuota/),
    });
    expect(aws.stubs.iam.commandCalls(CreatePolicyCommand)).toHaveLength(0);
  });

  it('an unknown principal fails with PrincipalNotFound', async () => {
    const principal = parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/never-created`);
    await expect(addConnectGrant(deps, principal, arn('alice'), 'req-1')).rejects.toMatchObject({ code: 'PrincipalNotFound' });
  });

  it('while another request holds the principal lock: GrantLockBusy after waiting; an expired lease is taken over', async () => {
    deps = { ...deps, lock: { ...deps.lock, waitMs: 300 } };
    const principal = parsePrincipalArn(aws.iam.addRole('locked'));
    // One lock per principal, whatever path a request names it with.
    const key = principalKey(principal);
    aws.locks.items.set(key, { pk: { S: key }, owner: { S: 'req-other' }, leaseUntil: { N: String(Date.now() + 60_000) } });
    await expect(addConnectGrant(deps, parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/some/path/locked`), arn('alice'), 'req-1')).rejects.toMatchObject({
      code: 'GrantLockBusy',
    });
    await expect(addConnectGrant(deps, principal, arn('alice'), 'req-1')).rejects.toMatchObject({ code: 'GrantLockBusy' });
    aws.locks.items.set(key, { pk: { S: key }, owner: { S: 'req-other' }, leaseUntil: { N: String(Date.now() - 1) } });
    expect((await addConnectGrant(deps, principal, arn('alice'), 'req-1')).outcome).toBe('added');
    expect(aws.locks.items.get(key)?.owner).toBeUndefined();
  });

  it('a lock released while the step waits for it is taken: no GrantLockBusy, no retry of the state', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('briefly-locked'));
    const key = principalKey(principal);
    aws.locks.items.set(key, { pk: { S: key }, owner: { S: 'req-other' }, leaseUntil: { N: String(Date.now() + 60_000) } });
    const t0 = performance.now();
    setTimeout(() => aws.locks.items.get(key) && delete aws.locks.items.get(key)!.owner, 400);
    expect((await addConnectGrant(deps, principal, arn('alice'), 'req-1')).outcome).toBe('added');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(380);
  });

  it('a read that does not show the last holder’s write yet is retried, not built upon (fencing)', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('lagging'));
    await addConnectGrant(deps, principal, arn('alice'), 'req-1');
    const policyArn = grantPolicyArn(principal, 0);
    const key = principalKey(principal);
    expect(aws.locks.items.get(key)?.policies?.M?.[policyArn]?.S).toBe('v1');
    // Pretend the previous holder wrote v2, which IAM's (eventually consistent) read does not show yet.
    aws.locks.items.get(key)!.policies = { M: { [policyArn]: { S: 'v2' } } };
    await expect(addConnectGrant(deps, principal, arn('bob'), 'req-2')).rejects.toMatchObject({ code: 'IamNotYetConsistent' });
    expect(aws.locks.items.get(key)?.owner).toBeUndefined();
  });

  it('a removal stopped between detaching and deleting its policy is finished by the next holder, whoever it is (no fencing livelock)', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('halfway'));
    await addConnectGrant(deps, principal, arn('alice'), 'req-1');
    const policyArn = grantPolicyArn(principal, 0);
    // IAM throttles DeletePolicy after DetachRolePolicy went through: the policy is detached, still there, still naming alice.
    aws.iam.faults.next('DeletePolicy', iamFaults.throttling());
    await expect(removeConnectGrant(deps, principal, arn('alice'), 'off-1')).rejects.toMatchObject({ code: 'TransientAwsError' });
    expect(aws.iam.attachedDocuments('role', 'halfway')).toEqual([]);
    expect(aws.iam.policies.has(policyArn)).toBe(true);
    // Another request for the same principal goes first: it must not build on (or reuse) the half-deleted policy.
    expect((await addConnectGrant(deps, principal, arn('bob'), 'req-2')).outcome).toBe('added');
    expect(await allowed(aws.iam.attachedDocuments('role', 'halfway'), principal.arn, arn('bob'))).toBe(true);
    expect(await allowed(aws.iam.attachedDocuments('role', 'halfway'), principal.arn, arn('alice'))).toBe(false);
    // The removal's retry passes the fencing check at once, finds alice's grant already gone (bob's request
    // finished the deletion) and leaves bob's grant alone.
    const retried = await removeConnectGrant(deps, principal, arn('alice'), 'off-1');
    expect(retried.outcome).toBe('absent');
    expect(await allowed(aws.iam.attachedDocuments('role', 'halfway'), principal.arn, arn('bob'))).toBe(true);
    expect([...aws.iam.policies.values()].filter((p) => JSON.stringify(p).includes('alice'))).toEqual([]);
  });

  it('a removal stopped after detaching, retried alone, deletes the policy and reports it removed', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('halfway2'));
    await addConnectGrant(deps, principal, arn('alice'), 'req-1');
    aws.iam.faults.next('DeletePolicy', iamFaults.throttling());
    await expect(removeConnectGrant(deps, principal, arn('alice'), 'off-1')).rejects.toMatchObject({ code: 'TransientAwsError' });
    const retried = await removeConnectGrant(deps, principal, arn('alice'), 'off-1');
    expect(retried).toMatchObject({ outcome: 'removed', policies: [{ policyArn: grantPolicyArn(principal, 0), change: 'deleted' }] });
    expect(aws.iam.policies.has(grantPolicyArn(principal, 0))).toBe(false);
  });

  it('finding the holders of a grant reads each policy version once, then only the candidates, whose ownership is proven every time', async () => {
    const principals = ['h1', 'h2', 'h3', 'h4'].map((n) => parsePrincipalArn(aws.iam.addRole(n)));
    for (const [i, p] of principals.entries()) await addConnectGrant(deps, p, arn(`user${i}`), `req-${i}`);
    expect((await findGrantHolders(new IAMClient({}), arn('user2'))).map((p) => p.arn)).toEqual([principals[2].arn]);
    const versionReads = aws.stubs.iam.commandCalls(GetPolicyVersionCommand).length;
    const policyReads = aws.stubs.iam.commandCalls(GetPolicyCommand).length;
    // Again: no version is read again except the candidate's, proven with GetPolicy (the tags) and its document.
    expect((await findGrantHolders(new IAMClient({}), arn('user2'))).map((p) => p.arn)).toEqual([principals[2].arn]);
    expect(aws.stubs.iam.commandCalls(GetPolicyVersionCommand).length - versionReads).toBe(1);
    expect(aws.stubs.iam.commandCalls(GetPolicyCommand).length - policyReads).toBe(1);
    // A new default version (h1 also gets user2) is a new key: it is read, and h1 is found.
    await addConnectGrant(deps, principals[1], arn('user2'), 'req-9');
    expect((await findGrantHolders(new IAMClient({}), arn('user2'))).map((p) => p.arn).sort()).toEqual([principals[1].arn, principals[2].arn].sort());
    // Ownership is never cached: a candidate whose creation tag now names another principal is not taken as ours.
    await new IAMClient({}).send(
      new TagPolicyCommand({ PolicyArn: grantPolicyArn(principals[2], 0), Tags: [{ Key: PRINCIPAL_TAG, Value: principals[3].arn }] }),
    );
    expect((await findGrantHolders(new IAMClient({}), arn('user2'))).map((p) => p.arn)).toEqual([principals[1].arn]);
  });

  it('reuses a grant policy left unattached by an interrupted run', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('interrupted'));
    // As createAndAttach creates it: the creation tag comes with CreatePolicy.
    await new IAMClient({}).send(
      new CreatePolicyCommand({
        PolicyName: grantPolicyName(principal, 0),
        Path: POLICY_PATH,
        PolicyDocument: JSON.stringify(renderPolicy([arn('alice')])),
        Tags: grantPolicyTags(principal),
      }),
    );
    const result = await addConnectGrant(deps, principal, arn('alice'), 'req-1');
    expect(result).toMatchObject({ outcome: 'added', policyArn: grantPolicyArn(principal, 0) });
    expect(await allowed(aws.iam.attachedDocuments('role', 'interrupted'), principal.arn, arn('alice'))).toBe(true);
  });

  it('a policy someone else created under our exact name (iam:CreatePolicy only, no tag) is refused, never written to or attached', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('squatted'));
    const planted = renderPolicy([arn('attacker_db_user')]);
    await new IAMClient({}).send(
      new CreatePolicyCommand({
        PolicyName: grantPolicyName(principal, 0),
        Path: POLICY_PATH,
        PolicyDocument: JSON.stringify(planted),
        Description: `rds-db:connect grants of ${principal.arn}, managed by rds-iam-access. Do not edit by hand.`,
      }),
    );
    await expect(addConnectGrant(deps, principal, arn('alice'), 'req-1')).rejects.toMatchObject({
      code: 'ForeignPolicyConflict',
      message: expect.stringContaining(PRINCIPAL_TAG),
    });
    expect(aws.iam.attachedDocuments('role', 'squatted')).toEqual([]);
    expect(aws.stubs.iam.commandCalls(CreatePolicyVersionCommand)).toHaveLength(0);
    expect(aws.iam.policies.get(grantPolicyArn(principal, 0))?.versions).toHaveLength(1);
  });

  it('the policy name and the lock ignore the path: role/alice and role/x/alice are one principal', () => {
    const plain = parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/alice`);
    const pathed = parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/x/alice`);
    expect(grantPolicyName(pathed, 0)).toBe(grantPolicyName(plain, 0));
    expect(principalKey(pathed)).toBe(`aws:${ACCOUNT}:role:alice`);
    expect(grantPolicyName(parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:user/alice`), 0)).not.toBe(grantPolicyName(plain, 0));
    expect(grantPolicyName(parsePrincipalArn(`arn:aws:iam::999999999999:role/alice`), 0)).not.toBe(grantPolicyName(plain, 0));
  });

  it('ownership is proven by path, exact name and creation tag together; the description is never read', () => {
    const alice = parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/alice`);
    const name = grantPolicyName(alice, 1);
    const ours = { arn: `arn:aws:iam::${ACCOUNT}:policy${POLICY_PATH}${name}`, name, path: POLICY_PATH, tags: grantPolicyTags(alice) };
    expect(ownerOfPolicy(ours)).toMatchObject({ principal: { type: 'role', name: 'alice', accountId: ACCOUNT }, slot: 1, legacy: false });
    expect(ownerOfPolicy({ ...ours, tags: [] })).toBeUndefined();
    expect(ownerOfPolicy({ ...ours, path: '/' })).toBeUndefined();
    expect(ownerOfPolicy({ ...ours, tags: [{ Key: PRINCIPAL_TAG, Value: `aws:${ACCOUNT}:role:bob` }] })).toBeUndefined();
    // The tag names alice, but the name's hash is not the one computed for alice.
    const forged = name.replace(/-[0-9a-f]{8}-1$/, '-00000000-1');
    expect(ownerOfPolicy({ ...ours, name: forged, arn: ours.arn.replace(name, forged) })).toBeUndefined();
    // Names with a comma: IAM tag values cannot hold one.
    const comma = parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/a,b`);
    const commaName = grantPolicyName(comma, 0);
    expect(grantPolicyTags(comma)[0].Value).not.toContain(',');
    expect(
      ownerOfPolicy({ arn: `arn:aws:iam::${ACCOUNT}:policy${POLICY_PATH}${commaName}`, name: commaName, path: POLICY_PATH, tags: grantPolicyTags(comma) })
        ?.principal.name,
    ).toBe('a,b');
  });
});
