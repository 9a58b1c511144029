/**
 * The DynamoDB request store (functions/lib/access/store.ts) against the DynamoDB simulation (dev/sim/dynamodb.ts):
 * creation only where no record is, every later write only over the version it was decided on, so that of
 * concurrent writes exactly one wins.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AccessRequest, decide, newAccessRequest } from '../../../functions/lib/access/lifecycle';
import { type AccessRequestStore, BY_STATE_INDEX, BY_STATE_KEYS, dynamoAccessRequestStore } from '../../../functions/lib/access/store';
import { schemas } from '../../../functions/lib/core/config';
import { SimulatedLockTable } from '../../../dev/sim/dynamodb';

const TABLE = 'rds-iam-access-test-access-requests';
const role = (name: string) => `arn:aws:iam::123456789012:role/${name}`;
const POLICY = schemas().approvalPolicySchema.parse({ name: 'p', match: { targets: ['orders'] }, approvers: [role('dba-*')], required: 2 });
const T0 = new Date('2026-12-01T10:00:00Z');

const requestNamed = (requestId: string, now = T0) =>
  newAccessRequest(
    {
      requestId,
      policy: 'p',
      plan: { target: 'orders', resourceId: 'db-1', dbUser: 'alice', dbRoles: [], databases: [], principalArn: role('alice'), durationSeconds: 3600 },
      planHash: 'sha256:x',
      duration: 'PT1H',
      requestedBy: role('alice'),
      requester: role('alice'),
      subject: role('alice'),
    },
    POLICY,
    { now, autoApproved: false },
  );

let sim: SimulatedLockTable;
let mock: ReturnType<SimulatedLockTable['install']>;
let store: AccessRequestStore;
beforeEach(() => {
  sim = new SimulatedLockTable();
  sim.addTable(TABLE, { [BY_STATE_INDEX]: BY_STATE_KEYS });
  mock = sim.install();
  store = dynamoAccessRequestStore(new DynamoDBClient({ region: 'eu-west-1' }), TABLE);
});
afterEach(() => mock.restore());

describe('the access-request store', () => {
  it('creates a record once; a second creation of the id loses and is shown the first', async () => {
    expect(await store.write(requestNamed('r1'))).toEqual({ won: true });
    const again = await store.write(requestNamed('r1', new Date('2026-12-01T11:00:00Z')));
    expect(again).toMatchObject({ won: false, current: { requestId: 'r1', createdAt: T0.toISOString() } });
    expect(await store.get('r1')).toEqual(requestNamed('r1').next);
    expect(await store.get('nope')).toBeUndefined();
    // Its own table: the lock table's items are untouched.
    expect(sim.items.size).toBe(0);
  });

  it('of concurrent writes over one version exactly one wins; the losers see the winner', async () => {
    await store.write(requestNamed('r1'));
    const read = (await store.get('r1')) as AccessRequest;
    const voters = ['dba-1', 'dba-2', 'dba-3', 'dba-4'];
    const writes = voters.map((v) =>
      decide(
        read,
        { kind: 'approve', by: { arn: `arn:aws:sts::123456789012:assumed-role/${v}/s`, principal: role(v) }, planHash: 'sha256:x' },
        { now: T0, policy: POLICY },
      ),
    );
    const outcomes = await Promise.all(writes.map((w) => store.write(w)));
    expect(outcomes.filter((o) => o.won)).toHaveLength(1);
    const winner = (await store.get('r1')) as AccessRequest;
    expect(winner.version).toBe(2);
    expect(winner.votes).toHaveLength(1);
    for (const o of outcomes) if (!o.won) expect(o.current).toEqual(winner);
  });

  it('lists by state, oldest first', async () => {
    for (let i = 0; i < 5; i++) await store.write(requestNamed(`r${i}`, new Date(T0.getTime() + (5 - i) * 1000)));
    const r0 = (await store.get('r0')) as AccessRequest;
    await store.write(decide(r0, { kind: 'cancel', by: { arn: role('alice'), principal: role('alice') }, admin: false }, { now: T0, policy: POLICY }));
    expect((await store.list(['PENDING_APPROVAL'])).map((r) => r.requestId)).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect((await store.list(['CANCELLED'])).map((r) => r.requestId)).toEqual(['r0']);
    expect(await store.list([])).toHaveLength(5);
  });
});
