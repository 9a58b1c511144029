/**
 * The simulation models what AWS does that correctness depends on (issue 11, item 7): IAM throttling, eventually
 * consistent IAM reads, small pages, ConcurrentModification, one-off faults. What the simulation itself does, through
 * the real SDK clients (the workflows against it, on the real PostgreSQL: test/integration/simulation.test.ts).
 */
import { type AttributeValue, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListPoliciesCommand,
} from '@aws-sdk/client-iam';
import { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import { afterEach, describe, expect, it } from 'vitest';
import { mapAwsError } from '../../../functions/lib/core/aws-errors';
import { POLICY_PATH, renderPolicy } from '../../../functions/lib/iam/policy-document';
import { identityStoreDirectory } from '../../../functions/lib/idp/providers/identity-center';
import { iamFaults, type IamSimulationOptions, SimulatedAws } from '../../../dev/simulated-aws';
import { SimulatedIdentityStore } from '../../../dev/simulated-services';
import { simulationFromEnv } from '../../../dev/local-mode';

const ACCOUNT = '123456789012';
const doc = (user: string) => JSON.stringify(renderPolicy([`arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:db-X/${user}`]));
const errorOf = (p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: Error) => e,
  );
const classified = (e: unknown): string => {
  try {
    return mapAwsError(e, 'test');
  } catch (mapped) {
    return (mapped as Error).name;
  }
};

/** A simulated IAM on a clock the test moves. */
const simulated = (options: IamSimulationOptions) => {
  let t = 1_000_000;
  const aws = new SimulatedAws(ACCOUNT);
  (aws.iam as unknown as { now: () => number }).now = () => t;
  aws.install();
  aws.iam.configure(options);
  return { aws, iam: new IAMClient({ region: 'us-east-1' }), advance: (ms: number) => (t += ms) };
};

describe('the simulation itself', () => {
  it('the lock table refuses an UpdateItem that defines a name or value its expressions do not use, as DynamoDB does', async () => {
    const aws = new SimulatedAws(ACCOUNT).install();
    try {
      const ddb = new DynamoDBClient({ region: 'eu-west-1' });
      const update = (names: Record<string, string>, values: Record<string, AttributeValue>) =>
        ddb.send(
          new UpdateItemCommand({
            TableName: 't',
            Key: { pk: { S: 'k' } },
            UpdateExpression: 'SET #a = :a',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
      await expect(update({ '#a': 'a', '#b': 'b' }, { ':a': { S: '1' } })).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining('#b'),
      });
      await expect(update({ '#a': 'a' }, { ':a': { S: '1' }, ':ab': { S: '2' } })).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringContaining(':ab'),
      });
      await update({ '#a': 'a' }, { ':a': { S: '1' } });
      expect(aws.locks.items.get('k')?.a).toEqual({ S: '1' });
    } finally {
      aws.restore();
    }
  });

  let aws: SimulatedAws | undefined;
  afterEach(() => aws?.restore());

  it("throttles mutating calls at the configured rate with IAM's Throttling (HTTP 400), classified transient; reads have their own bucket", async () => {
    const sim = simulated({ throttle: { ratePerSecond: 5, burst: 2 } });
    aws = sim.aws;
    await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'a', PolicyDocument: doc('a') }));
    await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'b', PolicyDocument: doc('b') }));
    const e = await errorOf(sim.iam.send(new CreatePolicyCommand({ PolicyName: 'c', PolicyDocument: doc('c') })));
    expect({ name: e.name, status: e.$metadata?.httpStatusCode }).toEqual({ name: 'Throttling', status: 400 });
    expect(classified(e)).toBe('TransientAwsError');
    expect(sim.aws.iam.policies.has(`arn:aws:iam::${ACCOUNT}:policy/c`)).toBe(false);
    // Reads are not limited by the write bucket.
    for (let i = 0; i < 10; i++) await sim.iam.send(new ListPoliciesCommand({}));
    sim.advance(199);
    await expect(sim.iam.send(new CreatePolicyCommand({ PolicyName: 'c', PolicyDocument: doc('c') }))).rejects.toMatchObject({ name: 'Throttling' });
    sim.advance(1);
    await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'c', PolicyDocument: doc('c') }));
    expect(sim.aws.iam.stats.throttled).toBe(2);

    sim.aws.iam.configure({ readThrottle: { ratePerSecond: 1, burst: 1 } });
    await sim.iam.send(new ListPoliciesCommand({}));
    await expect(sim.iam.send(new ListPoliciesCommand({}))).rejects.toMatchObject({ name: 'Throttling' });
    expect(sim.aws.iam.stats.readThrottled).toBe(1);
  });

  it('reads see the state as it was `lag` ms ago; writes act on the true state', async () => {
    const sim = simulated({ consistencyLagMs: 200 });
    aws = sim.aws;
    sim.aws.iam.addRole('app');
    sim.aws.iam.settle();
    const arn = (await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'p', Path: POLICY_PATH, PolicyDocument: doc('a') }))).Policy?.Arn as string;
    await expect(sim.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    sim.advance(100);
    // The write acts on the truth: the policy the reads cannot see yet can be attached and given a version.
    await sim.iam.send(new AttachRolePolicyCommand({ RoleName: 'app', PolicyArn: arn }));
    await sim.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc('b'), SetAsDefault: true }));
    sim.advance(100);
    // The state of 200 ms ago: created, not yet attached nor versioned.
    expect((await sim.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy).toMatchObject({ DefaultVersionId: 'v1', AttachmentCount: 0 });
    sim.advance(100);
    expect((await sim.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy).toMatchObject({ DefaultVersionId: 'v2', AttachmentCount: 1 });
    expect(sim.aws.iam.stats.laggedReads).toBe(2);
    await sim.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc('c'), SetAsDefault: true }));
    sim.aws.iam.settle();
    expect((await sim.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy?.DefaultVersionId).toBe('v3');
  });

  it('local mode: an auto-created principal exists in every snapshot (it always existed), unattached until the lag passes', async () => {
    const sim = simulated({ consistencyLagMs: 200 });
    aws = sim.aws;
    sim.aws.iam.autoCreatePrincipals = true;
    const arn = (await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'p', PolicyDocument: doc('a') }))).Policy?.Arn as string;
    await sim.iam.send(new AttachRolePolicyCommand({ RoleName: 'anyone', PolicyArn: arn }));
    expect((await sim.iam.send(new GetRoleCommand({ RoleName: 'anyone' }))).Role?.RoleId).toBe(sim.aws.iam.idOf('role', 'anyone'));
    expect((await sim.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'anyone' }))).AttachedPolicies).toEqual([]);
    sim.advance(200);
    expect((await sim.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'anyone' }))).AttachedPolicies).toEqual([{ PolicyArn: arn, PolicyName: 'p' }]);
  });

  it('local mode reads the knobs from the environment, and refuses a bad value naming the variable and what it may be', () => {
    expect(simulationFromEnv({})).toEqual({});
    expect(
      simulationFromEnv({
        LOCAL_IAM_THROTTLE_RPS: '5',
        LOCAL_IAM_CONSISTENCY_LAG_MS: '200',
        LOCAL_PAGE_SIZE: '1',
        LOCAL_IAM_CONCURRENT_MODIFICATION_RATE: '0.1',
        LOCAL_SIM_SEED: '7',
      }),
    ).toEqual({ throttle: { ratePerSecond: 5, burst: 5 }, consistencyLagMs: 200, pageSize: 1, concurrentModificationRate: 0.1, seed: 7 });
    expect(simulationFromEnv({ LOCAL_IAM_THROTTLE_RPS: '2.5', LOCAL_IAM_THROTTLE_BURST: '10', LOCAL_IAM_READ_THROTTLE_RPS: '20' })).toEqual({
      throttle: { ratePerSecond: 2.5, burst: 10 },
      readThrottle: { ratePerSecond: 20, burst: 20 },
    });
    expect(() => simulationFromEnv({ LOCAL_PAGE_SIZE: '0' })).toThrow('LOCAL_PAGE_SIZE must be a whole number of items of at least 1, not "0"');
    expect(() => simulationFromEnv({ LOCAL_IAM_THROTTLE_RPS: 'fast' })).toThrow(
      'LOCAL_IAM_THROTTLE_RPS must be a number of calls per second above 0, not "fast"',
    );
    expect(() => simulationFromEnv({ LOCAL_IAM_CONCURRENT_MODIFICATION_RATE: '2' })).toThrow(
      'LOCAL_IAM_CONCURRENT_MODIFICATION_RATE must be a share of calls from 0 to 1',
    );
    expect(() => simulationFromEnv({ LOCAL_IAM_THROTTLE_BURST: '3' })).toThrow('LOCAL_IAM_THROTTLE_BURST needs LOCAL_IAM_THROTTLE_RPS');
  });

  it('a randomised lag draws per read (seeded): reads can go back in time', async () => {
    const sim = simulated({ consistencyLagMs: { min: 0, max: 100 }, seed: 3 });
    aws = sim.aws;
    const arn = (await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'p', PolicyDocument: doc('a') }))).Policy?.Arn as string;
    sim.advance(50);
    const seen = [];
    for (let i = 0; i < 20; i++)
      seen.push(
        await sim.iam.send(new GetPolicyCommand({ PolicyArn: arn })).then(
          () => 'visible',
          () => 'not yet',
        ),
      );
    expect(new Set(seen)).toEqual(new Set(['visible', 'not yet']));
    sim.advance(51);
    for (let i = 0; i < 5; i++) await sim.iam.send(new GetPolicyCommand({ PolicyArn: arn }));
  });

  it('pages every List* answer at the configured size, with IsTruncated and Marker', async () => {
    const sim = simulated({ pageSize: 1 });
    aws = sim.aws;
    for (const n of ['a', 'b', 'c']) await sim.iam.send(new CreatePolicyCommand({ PolicyName: n, PolicyDocument: doc(n) }));
    const names: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await sim.iam.send(new ListPoliciesCommand({ Marker: marker }));
      expect(page.Policies).toHaveLength(1);
      names.push(...(page.Policies ?? []).map((p) => p.PolicyName as string));
      marker = page.IsTruncated ? page.Marker : undefined;
      pages++;
    } while (marker);
    expect({ names, pages }).toEqual({ names: ['a', 'b', 'c'], pages: 3 });
    await expect(sim.iam.send(new ListPoliciesCommand({ Marker: 'forged' }))).rejects.toMatchObject({ name: 'InvalidInputException' });
    // Without a page size, MaxItems alone pages.
    sim.aws.iam.configure({});
    expect(await sim.iam.send(new ListPoliciesCommand({ MaxItems: 2 }))).toMatchObject({
      IsTruncated: true,
      Policies: [{ PolicyName: 'a' }, { PolicyName: 'b' }],
    });
    expect(await sim.iam.send(new ListPoliciesCommand({}))).toMatchObject({ IsTruncated: false });
  });

  it('refuses a seeded share of mutating calls with ConcurrentModificationException (HTTP 409), changing nothing, the same way for the same seed', async () => {
    const outcomes = async (seed: number): Promise<string[]> => {
      const sim = simulated({ concurrentModificationRate: 0.5, seed });
      try {
        const out: string[] = [];
        for (let i = 0; i < 12; i++) {
          out.push(
            await sim.iam.send(new CreatePolicyCommand({ PolicyName: `p${i}`, PolicyDocument: doc('a') })).then(
              () => 'ok',
              (e: Error & { $metadata: { httpStatusCode?: number } }) => `${e.name} ${e.$metadata.httpStatusCode} ${classified(e)}`,
            ),
          );
        }
        expect(sim.aws.iam.policies.size).toBe(out.filter((o) => o === 'ok').length);
        return out;
      } finally {
        sim.aws.restore();
      }
    };
    const first = await outcomes(42);
    expect(first).toEqual(await outcomes(42));
    expect(first).toContain('ok');
    expect(first).toContain('ConcurrentModificationException 409 TransientAwsError');
  });

  it('a scheduled fault fails the next call of one command once, before it acts or (afterEffect) after', async () => {
    const sim = simulated({});
    aws = sim.aws;
    const arn = (await sim.iam.send(new CreatePolicyCommand({ PolicyName: 'p', PolicyDocument: doc('a') }))).Policy?.Arn as string;
    await sim.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc('b') }));
    sim.aws.iam.faults.next('DeletePolicyVersion', iamFaults.serviceFailure());
    await expect(sim.iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: 'v2' }))).rejects.toMatchObject({ name: 'ServiceFailureException' });
    expect(sim.aws.iam.policies.get(arn)?.versions).toHaveLength(2);
    await sim.iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: 'v2' }));
    expect(sim.aws.iam.policies.get(arn)?.versions).toHaveLength(1);

    sim.aws.iam.faults.next('CreatePolicyVersion', iamFaults.timeout(), { afterEffect: true });
    await expect(sim.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc('c') }))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(sim.aws.iam.policies.get(arn)?.versions.map((v) => v.id)).toEqual(['v1', 'v3']);
    expect(sim.aws.iam.faults.fired).toEqual({ DeletePolicyVersion: 1, CreatePolicyVersion: 1 });
    expect(sim.aws.iam.faults.pending()).toBe(0);
  });

  it('the identity store pages its membership lists (NextToken); the directory reads every page', async () => {
    const store = new SimulatedIdentityStore(
      {
        users: ['u1', 'u2', 'u3'].map((userId) => ({ userId, userName: userId, groups: userId === 'u1' ? ['g1', 'g2', 'g3'] : ['g1'] })),
        groups: ['g1', 'g2', 'g3'].map((groupId) => ({ groupId, displayName: `name-${groupId}` })),
      },
      { pageSize: 1 },
    );
    const stub = store.install();
    try {
      const directory = identityStoreDirectory(new IdentitystoreClient({ region: 'eu-west-1' }), 'd-1');
      expect((await directory.person({ id: 'u1' }))?.groups.map((g) => g.name)).toEqual(['name-g1', 'name-g2', 'name-g3']);
      // Everyone in g1 (by id) or g3 (by name), with those groups only: memberships and users over every page.
      const everyone = await directory.everyone?.([{ id: 'g1' }, { id: 'name-g3', name: 'name-g3' }]);
      expect([...(everyone?.values() ?? [])].map((p) => [p.userId, p.groups.map((g) => g.id)])).toEqual([
        ['u1', ['g1', 'g3']],
        ['u2', ['g1']],
        ['u3', ['g1']],
      ]);
    } finally {
      stub.restore();
    }
  });
});
