import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import { IAMClient } from '@aws-sdk/client-iam';
import { RDSClient } from '@aws-sdk/client-rds';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/lib/core/config';
import { identityStoreDirectory } from '../../../functions/lib/idp/providers/identity-center';
import { type CoalesceDeps, claimReconcile, completeReconcile, RECONCILE_LEASE_MS } from '../../../functions/lib/idp/coalesce';
import { handleIdentityEvent, type IdpDeps } from '../../../functions/lib/idp/handle';
import type { ManagedRole } from '../../../functions/lib/postgres/review';
import { roleComment } from '../../../functions/lib/postgres/ddl';
import { sandboxConfig } from '../../../dev/sandbox';
import { SimulatedAws } from '../../../dev/simulated-aws';
import { type IdentityStoreData, SimulatedIdentityStore } from '../../../dev/simulated-services';

/**
 * A reconcile of a large mapping (an Identity Store notification: nobody is named, so everyone is checked): its
 * directory reads grow with the store's pages, not with two reads per person, and its starts are paced at
 * idp.startsPerSecond. The database review and Step Functions are the SDK boundary here (their own tests are
 * elsewhere); the identity store is the simulation, paged at 100 like the real API.
 */
const ACCOUNT = '123456789012';
const READERS = 'c4e8a4d8-2051-70b3-1f0e-9a8b7c6d5e40';
const WRITERS = 'a1b2c3d4-0000-7000-8000-000000000001';
const PEOPLE = 1200;
const STARTS_PER_SECOND = 300;

const userId = (i: number): string => `90000000-0000-7000-8000-${String(i).padStart(12, '0')}`;

let aws: SimulatedAws;
let store: SimulatedIdentityStore;
let storeStub: ReturnType<SimulatedIdentityStore['install']>;
let sfnStub: AwsClientStub<SFNClient>;
let starts: Array<{ name: string; at: number; input: Record<string, unknown> }>;

beforeEach(() => {
  aws = new SimulatedAws(ACCOUNT).install();
  aws.rds.add({ kind: 'instance', identifier: 'orders-db', host: '127.0.0.1', port: 5432, masterUser: 'postgres', iamAuthEnabled: true });
  // Everyone 0..1199 is in READERS, every third also in WRITERS; 300 more people are in no mapped group.
  const data: IdentityStoreData = {
    users: Array.from({ length: PEOPLE + 300 }, (_, i) => ({
      userId: userId(i),
      userName: `person${i}@example.com`,
      groups: i < PEOPLE ? (i % 3 === 0 ? [READERS, WRITERS] : [READERS]) : ['unmapped'],
    })),
    groups: [
      { groupId: READERS, displayName: 'db-readers' },
      { groupId: WRITERS, displayName: 'db-writers' },
      { groupId: 'unmapped', displayName: 'everyone-else' },
    ],
  };
  // Person 5 is disabled: they keep nothing.
  data.users[5].status = 'DISABLED';
  store = new SimulatedIdentityStore(data, { pageSize: 100 });
  storeStub = store.install();
  starts = [];
  const t0 = performance.now();
  sfnStub = mockClient(SFNClient);
  sfnStub.on(StartExecutionCommand).callsFake(async (i: { name: string; input: string; stateMachineArn: string }) => {
    starts.push({ name: i.name, at: performance.now() - t0, input: JSON.parse(i.input) as Record<string, unknown> });
    return { executionArn: `${i.stateMachineArn.replace(':stateMachine:', ':execution:')}:${i.name}`, startDate: new Date() };
  });
});
afterEach(() => {
  sfnStub.restore();
  storeStub.restore();
  aws.restore();
});

const deps = (recorded: ManagedRole[]): IdpDeps => {
  const config = parseConfig({
    ...sandboxConfig(10),
    idp: {
      groups: { [READERS]: { targets: ['orders'], dbRoles: ['app_read'] }, [WRITERS]: { targets: ['orders'], dbRoles: ['app_write'] } },
      principal: { kind: 'shared', roleArn: `arn:aws:iam::${ACCOUNT}:role/db-people`, tagKey: 'dbuser', dbUserPrefix: 'p_' },
      dbUserTemplate: 'p_{userId}',
      identityStoreId: 'd-0123456789',
      startsPerSecond: STARTS_PER_SECOND,
    },
  });
  return {
    config,
    executions: {
      sfn: new SFNClient({ region: 'eu-west-1' }),
      stateMachines: {
        onboarding: 'arn:aws:states:eu-west-1:123456789012:stateMachine:on',
        offboarding: 'arn:aws:states:eu-west-1:123456789012:stateMachine:off',
      },
    },
    directoryFor: () => identityStoreDirectory(new IdentitystoreClient({ region: 'eu-west-1' }), 'd-0123456789'),
    iam: new IAMClient({}),
    rds: (region) => new RDSClient({ region }),
    database: { review: async () => ({ managed: recorded, existing: recorded.map((r) => r.name) }) },
  };
};

/** A database user this project created for identity-provider person `i` (the role comment says for whom). */
const recordedFor = (i: number): ManagedRole => ({
  name: `p_${userId(i)}`.replace(/-/g, '_'),
  canLogin: true,
  superuser: false,
  privileged: [],
  memberOf: ['app_read'],
  comment: roleComment({ createdBy: 'idp:identity-store', principal: `arn:aws:iam::${ACCOUNT}:role/db-people`, idpUser: `identity-center:${userId(i)}` }),
  passwordSet: null,
});

const NOTIFICATION = {
  version: '0',
  id: 'notification-1',
  'detail-type': 'Group Membership Created',
  source: 'aws.identitystore',
  account: ACCOUNT,
  region: 'eu-west-1',
  time: '2026-12-04T10:00:00Z',
  resources: [],
  detail: {},
};

describe('reconcile of a large mapping', () => {
  it('onboards every member without a user, offboards the disabled and the removed, in O(pages) directory reads and paced starts', async () => {
    // Recorded already: people 0..99 (still members: kept, except the disabled 5) and 1300..1349 (in no mapped group any more).
    const recorded = [...Array.from({ length: 100 }, (_, i) => recordedFor(i)), ...Array.from({ length: 50 }, (_, i) => recordedFor(PEOPLE + 100 + i))];
    const t0 = performance.now();
    const outcome = await handleIdentityEvent(deps(recorded), NOTIFICATION);
    const seconds = (performance.now() - t0) / 1000;

    const kinds = outcome.executions.map((e) => e.kind);
    const offboarded = outcome.executions.filter((e) => e.kind === 'offboarding').map((e) => e.dbUser);
    expect(offboarded.sort()).toEqual([recordedFor(5).name, ...Array.from({ length: 50 }, (_, i) => recordedFor(PEOPLE + 100 + i).name)].sort());
    // Everyone active in a mapped group without a user: 1,200 - 100 recorded - (the disabled one is among the recorded).
    expect(kinds.filter((k) => k === 'onboarding')).toHaveLength(PEOPLE - 100);
    // Taking access away goes first.
    expect(kinds.slice(0, 51).every((k) => k === 'offboarding')).toBe(true);
    // Counted grants: every third person has app_read and app_write.
    const p3 = starts.find((s) => s.input.idpUser === `identity-center:${userId(300)}`);
    expect(p3?.input.dbRoles).toEqual(['app_read', 'app_write']);
    expect(starts).toHaveLength(outcome.executions.length);

    // Directory reads: the memberships of two groups and the users, 100 a page; never one read per person.
    const calls = storeStub.calls().map((c) => c.args[0].constructor.name);
    const count = (name: string): number => calls.filter((c) => c === name).length;
    expect(count('ListUsersCommand')).toBe(15);
    expect(count('ListGroupMembershipsCommand')).toBe(12 + 4);
    expect(count('DescribeUserCommand')).toBe(0);
    expect(count('ListGroupMembershipsForMemberCommand')).toBe(0);
    // One StartExecution per change, no DescribeExecution: the names carry their kind.
    expect(
      sfnStub
        .calls()
        .map((c) => (c.args[0] as object).constructor.name)
        .every((n: string) => n === 'StartExecutionCommand'),
    ).toBe(true);

    // Paced: about STARTS_PER_SECOND a second at most (p-throttle spaces them 1000 / rate ms apart; the SDK adds jitter on the way to the stub).
    const times = starts.map((s) => s.at).sort((a, b) => a - b);
    for (let i = STARTS_PER_SECOND; i < times.length; i++) expect(times[i] - times[i - STARTS_PER_SECOND]).toBeGreaterThanOrEqual(950);
    expect(seconds).toBeGreaterThanOrEqual((starts.length - 1) / STARTS_PER_SECOND - 0.1);
  }, 60_000);

  it('a redelivered notification starts nothing new and fails nothing', async () => {
    const d = deps([]);
    const first = await handleIdentityEvent(d, NOTIFICATION);
    const started = new Set(first.executions.map((e) => e.requestId));
    // Step Functions now holds those names: a start with the same name (and another submission) is refused.
    sfnStub.on(StartExecutionCommand).callsFake(async (i: { name: string }) => {
      if (started.has(i.name)) throw Object.assign(new Error(`Execution Already Exists: '${i.name}'`), { name: 'ExecutionAlreadyExists' });
      return { executionArn: `arn:aws:states:eu-west-1:123456789012:execution:on:${i.name}`, startDate: new Date() };
    });
    const { DescribeExecutionCommand } = await import('@aws-sdk/client-sfn');
    sfnStub.on(DescribeExecutionCommand).callsFake(async (i: { executionArn: string }) => {
      const name = i.executionArn.split(':').pop() as string;
      const original = starts.find((s) => s.name === name);
      return {
        executionArn: i.executionArn,
        name,
        status: 'RUNNING',
        startDate: new Date(),
        input: JSON.stringify(original?.input),
        stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:on',
      };
    });
    const again = await handleIdentityEvent(d, NOTIFICATION);
    expect(again.executions.map((e) => e.requestId).sort()).toEqual([...started].sort());
    expect(again.executions.every((e) => !e.started)).toBe(true);
  }, 60_000);
});

describe('Identity Store notifications coalesced (a bulk import is thousands of them)', () => {
  const coalesce = (now?: () => number): CoalesceDeps => ({ ddb: new DynamoDBClient({ region: 'eu-west-1' }), table: 'locks', ...(now ? { now } : {}) });
  const notification = (id: string, time: Date) => ({ ...NOTIFICATION, id, time: time.toISOString() });

  it('notifications of changes a completed reconcile read after start nothing: one reconcile for the burst', async () => {
    const d = { ...deps([]), coalesce: coalesce() };
    const changed = new Date(Date.now() - 60_000);
    const first = await handleIdentityEvent(d, notification('burst-0', changed));
    // Everyone but the disabled person 5.
    expect(first.executions).toHaveLength(PEOPLE - 1);
    // The rest of the burst, delivered after it: every change happened before that reconcile read the directory.
    const rest = await Promise.all(Array.from({ length: 50 }, (_, i) => handleIdentityEvent(d, notification(`burst-${i + 1}`, changed))));
    expect(rest.every((o) => o.executions.length === 0 && o.ignored?.startsWith('covered by'))).toBe(true);
    expect(starts).toHaveLength(PEOPLE - 1);
    // A change after that reconcile started is not covered: it reconciles again.
    const later = await handleIdentityEvent(d, notification('after', new Date()));
    expect(later.ignored).toBeUndefined();
  }, 60_000);

  it('a change during a reconcile is deferred to it: it reads the directory again and starts only what is new', async () => {
    const d = { ...deps([]), coalesce: coalesce() };
    const running = handleIdentityEvent(d, notification('runner', new Date(Date.now() - 60_000)));
    // While its starts are paced out, someone joins a mapped group and the store notifies.
    while (starts.length < 10) await new Promise((r) => setTimeout(r, 20));
    store.data.users.push({ userId: userId(PEOPLE + 999), userName: 'joiner@example.com', groups: [READERS] });
    const deferred = await handleIdentityEvent(d, notification('joined', new Date()));
    expect(deferred.ignored).toContain('reads the directory again');
    const outcome = await running;
    const joiner = `identity-center:${userId(PEOPLE + 999)}`;
    expect(starts.filter((x) => x.input.idpUser === joiner)).toHaveLength(1);
    // Everyone once: the second pass started the joiner alone.
    expect(new Set(starts.map((x) => x.name)).size).toBe(starts.length);
    expect(outcome.executions).toHaveLength(PEOPLE - 1 + 1);
  }, 60_000);

  it(
    'one reconcile at a time: a change the running one may miss is deferred to it (it reads again before ' +
      'completing); one it covers is skipped; a retry of the runner re-enters',
    async () => {
      let t = 1_000_000;
      const c = coalesce(() => t);
      expect(await claimReconcile(c, 'identity-store', 'runner', t - 60_000)).toEqual({ run: true, startedAt: t });
      // A Lambda retry of the runner's own event (it failed half-way): it runs again.
      expect((await claimReconcile(c, 'identity-store', 'runner', t - 60_000)).run).toBe(true);
      // Changed before the runner read the directory (more than 5 s): covered.
      expect(await claimReconcile(c, 'identity-store', 'early', t - 10_000)).toMatchObject({ run: false });
      // Changed just before or after it started: it may not see it, so it is deferred to it, which must read again.
      expect(await claimReconcile(c, 'identity-store', 'late', t - 1_000)).toMatchObject({
        run: false,
        coveredBy: expect.stringContaining('reads the directory again'),
      });
      t += 120_000;
      expect(await completeReconcile(c, 'identity-store', 'runner', 1_000_000)).toBe(false);
      // The runner claims anew (its second pass reads the directory now) and then completes.
      expect(await claimReconcile(c, 'identity-store', 'runner', 940_000)).toEqual({ run: true, startedAt: t });
      expect(await completeReconcile(c, 'identity-store', 'runner', t)).toBe(true);
      // Released with nothing pending: the late change is covered now.
      expect((await claimReconcile(c, 'identity-store', 'late-again', 999_000)).run).toBe(false);
      // A runner that died (its lease expired) is taken over.
      t += RECONCILE_LEASE_MS + 1;
      expect((await claimReconcile(c, 'identity-store', 'next', t)).run).toBe(true);
    },
  );
});
