/**
 * The sweeper (functions/lib/access/sweep.ts) on the store and the EventBridge and SNS simulations, with a clock the
 * test moves: what lost schedules, failed starts and runs that died without a word leave behind is made good, and
 * nothing that is still running is touched.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LifecycleDeps } from '../../../functions/lib/access/activation';
import { type AccessRequest, type Action, decide, newAccessRequest } from '../../../functions/lib/access/lifecycle';
import { BY_STATE_INDEX, BY_STATE_KEYS, dynamoAccessRequestStore } from '../../../functions/lib/access/store';
import { STUCK_ACTIVATION_MS, STUCK_END_MS, sweep } from '../../../functions/lib/access/sweep';
import { parseConfig } from '../../../functions/lib/core/config';
import { SimulatedLockTable } from '../../../dev/sim/dynamodb';
import { SimulatedEvents } from '../../../dev/sim/events';
import { SimulatedScheduler } from '../../../dev/sim/scheduler';
import { SimulatedSns } from '../../../dev/simulated-sns';
import { sandboxConfig } from '../../../dev/sandbox';

const TABLE = 'rds-iam-access-test-access-requests';
const role = (name: string) => `arn:aws:iam::123456789012:role/${name}`;
const config = parseConfig({
  ...sandboxConfig(10),
  approvalPolicies: [{ name: 'p', match: { targets: ['orders'] }, approvers: [role('dba-*')], required: 1 }],
});
const POLICY = config.approvalPolicies[0];
const T0 = new Date('2026-12-01T10:00:00Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

let mocks: Array<{ restore: () => void }>;
let now: Date;
let started: Array<{ machine: string; name: string; input: Record<string, unknown> }>;
let deps: LifecycleDeps;
beforeEach(() => {
  const table = new SimulatedLockTable();
  table.addTable(TABLE, { [BY_STATE_INDEX]: BY_STATE_KEYS });
  mocks = [table.install(), new SimulatedEvents().install(), new SimulatedSns().install(), new SimulatedScheduler(async () => undefined).install()];
  now = T0;
  started = [];
  deps = {
    store: dynamoAccessRequestStore(new DynamoDBClient({ region: 'eu-west-1' }), TABLE),
    config,
    now: () => now,
    notify: { events: new EventBridgeClient({ region: 'eu-west-1' }), sns: new SNSClient({ region: 'eu-west-1' }), topicArn: 'arn:aws:sns:eu-west-1:1:t' },
    schedules: { scheduler: new SchedulerClient({ region: 'eu-west-1' }), group: 'g', roleArn: role('scheduler') },
    machines: { activate: 'activate', end: 'end' },
    startExecution: async (machine, name, input) => {
      started.push({ machine, name, input });
    },
  };
});
afterEach(() => {
  for (const m of mocks) m.restore();
});

/** A request taken through `actions`, each at its minute, and stored as it ends up. */
const stored = async (requestId: string, actions: Array<[number, Action]>): Promise<AccessRequest> => {
  let r = newAccessRequest(
    {
      requestId,
      policy: 'p',
      plan: { target: 'orders', resourceId: 'db-1', dbUser: 'alice', dbRoles: ['app_read'], databases: [], principalArn: role('alice'), durationSeconds: 3600 },
      planHash: 'sha256:x',
      duration: 'PT1H',
      requestedBy: role('bob'),
      requester: role('bob'),
      subject: role('alice'),
    },
    POLICY,
    { now: T0, autoApproved: false },
  ).next;
  for (const [at, action] of actions) r = decide(r, action, { now: minutes(at), policy: POLICY }).next;
  await deps.store.write({ expectedVersion: 0, next: r, approved: false });
  return r;
};
const approve: Action = { kind: 'approve', by: { arn: role('dba-1'), principal: role('dba-1') }, planHash: 'sha256:x' };
const activating: Array<[number, Action]> = [
  [1, approve],
  [2, { kind: 'start-activation', planHash: 'sha256:x' }],
];
const held = { dbRoles: [], databases: [], canLogin: false, connectStatement: false };

describe('the sweeper', () => {
  it('a grant being made for longer than any activation takes is failed, and its end started; a younger one is left alone', async () => {
    await stored('stuck', activating);
    now = minutes(2 + STUCK_ACTIVATION_MS / 60_000 - 1);
    expect((await sweep(deps)).activationsLost).toEqual([]);
    now = minutes(2 + STUCK_ACTIVATION_MS / 60_000);
    expect((await sweep(deps)).activationsLost).toEqual(['stuck']);
    expect(await deps.store.get('stuck')).toMatchObject({ state: 'ACTIVATION_FAILED', error: { code: 'ActivationLost' } });
    expect(started).toContainEqual({ machine: 'end', name: 'stuck', input: { requestId: 'stuck', reason: 'ACTIVATION_FAILED' } });
  });

  it('an end that died without a word is failed after STUCK_END_MS, then run again under the next name', async () => {
    await stored('dead-end', [...activating, [3, { kind: 'activated', heldBefore: held }], [70, { kind: 'start-end', reason: 'EXPIRED' }]]);
    now = minutes(70 + STUCK_END_MS / 60_000 - 1);
    const early = await sweep(deps);
    expect(early.endsLost).toEqual([]);
    // A running end is started again under its own name only (a no-op for Step Functions), never under a new one.
    expect(started.map((s) => s.name)).toEqual(['dead-end']);
    now = minutes(70 + STUCK_END_MS / 60_000);
    expect((await sweep(deps)).endsLost).toEqual(['dead-end']);
    expect(await deps.store.get('dead-end')).toMatchObject({ state: 'END_FAILED', error: { code: 'EndLost' } });
    started = [];
    await sweep(deps);
    expect(started).toEqual([{ machine: 'end', name: 'dead-end.2', input: { requestId: 'dead-end', reason: 'EXPIRED' } }]);
  });

  it('a failed activation whose end never started gets it; one whose plan was void, or that failed before granting, gets none', async () => {
    await stored('half-made', [...activating, [3, { kind: 'activation-failed', error: { code: 'GrantLimitReached', message: 'full' } }]]);
    await stored('never-granted', [
      [1, approve],
      [2, { kind: 'activation-failed', error: { code: 'TargetBusy', message: 'rebooting' } }],
    ]);
    await stored('void', [
      [1, approve],
      [2, { kind: 'start-activation', planHash: 'sha256:other' }],
    ]);
    now = minutes(5);
    await sweep(deps);
    expect(started).toEqual([{ machine: 'end', name: 'half-made', input: { requestId: 'half-made', reason: 'ACTIVATION_FAILED' } }]);
  });

  it('a grant past expiresAt whose schedule was lost is ended; one within 15 minutes of it is reminded once', async () => {
    await stored('expired', [...activating, [3, { kind: 'activated', heldBefore: held }]]);
    now = minutes(3 + 60 - 10);
    expect((await sweep(deps)).reminded).toEqual(['expired']);
    expect((await sweep(deps)).reminded).toEqual([]);
    now = minutes(3 + 60);
    expect((await sweep(deps)).endsStarted).toEqual(['expired']);
  });
});
