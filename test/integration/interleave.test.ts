/**
 * Onboarding and offboarding of one database user never interleave (issue 11, item 3). One workflow
 * is held at a step boundary while the other runs; without the database-user lease the second one
 * changes the user in between and the end state is a grant without its user (or a user the
 * offboarding reported as removed). With it, the second waits, the end state is the later run's,
 * and each output says which execution changed the user before it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDbUserLease, type DbUserLeaseDeps, leaseKeyOf, releaseDbUserLease, withDbUserLease } from '../../functions/lib/workflows/db-user-lease';
import { isProvisioningError } from '../../functions/lib/core/errors';
import { type ExecutionRecord, statePath } from '../../dev/asl-runner';
import { FUNCTIONS, type LocalFunction } from '../../dev/functions';
import { createSandbox, LOCK_TABLE, type Sandbox } from '../../dev/sandbox';
import { roleFacts, testPg, uniqueName } from '../support/pg';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';

/** Holds the first call of a function until opened; `entered` resolves when that call arrives. */
const gate = (fn: LocalFunction) => {
  let open!: () => void;
  let entered!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const arrived = new Promise<void>((resolve) => (entered = resolve));
  let first = true;
  const wrapped: LocalFunction = {
    ...fn,
    handler: async (input: never) => {
      if (first) {
        first = false;
        entered();
        await opened;
      }
      return fn.handler(input);
    },
  };
  return { wrapped, arrived, open };
};

const outputOf = (r: ExecutionRecord, state: string) =>
  r.taskOutputs.filter((t) => t.state === state).at(-1)?.output as { lease?: { after?: string } } | undefined;

/** Resolves once `state` has been invoked `n` times in the runner (the waiter is really waiting). */
/**
 * The held onboarding as AllowConnect leaves it once it starts writing the grant (phase `granting`): no offboarding
 * takes it over then. The gate holds the step before its handler, where it still waits to grant.
 */
const granting = (sb: Sandbox, dbUser: string): void => {
  const resourceId = sb.aws.rds.databases.get('instance/orders-db')!.resourceId;
  const item = sb.aws.locks.items.get(leaseKeyOf({ resourceId, dbUser }));
  if (item?.phase?.S !== 'awaiting-grant') throw new Error(`the onboarding of ${dbUser} is not waiting to grant: ${JSON.stringify(item)}`);
  item.phase = { S: 'granting' };
};

const invoked = async (sb: Sandbox, key: string, n: number): Promise<void> => {
  const until = Date.now() + 10_000;
  while ((sb.runner.stats.invocations[key] ?? 0) < n) {
    if (Date.now() > until) throw new Error(`${key} was invoked ${sb.runner.stats.invocations[key] ?? 0} times, expected ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

let sb: Sandbox | undefined;
afterEach(() => sb?.restore());

const onboardInput = (requestId: string, principalArn: string, dbUser: string) => ({
  requestId,
  principalArn,
  dbUser,
  target: 'orders',
  dbRoles: ['app_read'],
  databases: ['app'],
});
const offboardInput = (requestId: string, principalArn: string, dbUser: string) => ({ requestId, principalArn, dbUser, target: 'orders', reason: 'left' });

describe('an onboarding and an offboarding of the same database user at once', () => {
  it('offboarding started while the onboarding waits to grant: it takes the user over at once; the onboarding grants nothing and is undone', async () => {
    const hold = gate(FUNCTIONS.connectAllow);
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions: { ...FUNCTIONS, connectAllow: hold.wrapped } });
    const dbUser = uniqueName('race_wait');
    const principalArn = sb.aws.iam.addRole(dbUser);
    const on = sb.runner.run('onboard', uniqueName('on'), onboardInput(uniqueName('req'), principalArn, dbUser));
    await hold.arrived;
    expect((await roleFacts(dbUser)).canLogin).toBe(true);

    // The onboarding's grant is still in the IAM queue (held): the offboarding does not wait for it.
    const offRun = await sb.runner.run('offboard', uniqueName('off'), offboardInput(uniqueName('req'), principalArn, dbUser));
    expect(offRun.status, `${offRun.error}: ${offRun.cause}`).toBe('SUCCEEDED');
    expect((await roleFacts(dbUser)).exists).toBe(false);
    hold.open();
    const onRun = await on;
    expect(onRun.status).toBe('FAILED');
    expect(onRun.error).toBe('LeasePreempted');
    expect(statePath(onRun)).toContain('CompensateDbUser');
    expect((await roleFacts(dbUser)).exists).toBe(false);
    expect(sb.aws.iam.connectGrants('role', dbUser)).toEqual([]);
    expect(outputOf(offRun, 'DeactivateDbUser')?.lease).toEqual({ after: onRun.name, preempted: true });
  });

  it('offboarding started while the onboarding writes its grant: it waits, and the user ends with neither role nor grant', async () => {
    const hold = gate(FUNCTIONS.connectAllow);
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions: { ...FUNCTIONS, connectAllow: hold.wrapped } });
    const dbUser = uniqueName('race_on');
    const principalArn = sb.aws.iam.addRole(dbUser);
    const on = sb.runner.run('onboard', uniqueName('on'), onboardInput(uniqueName('req'), principalArn, dbUser));
    await hold.arrived;
    expect((await roleFacts(dbUser)).canLogin).toBe(true);
    granting(sb, dbUser);

    const offName = uniqueName('off');
    const off = sb.runner.run('offboard', offName, offboardInput(uniqueName('req'), principalArn, dbUser));
    await invoked(sb, 'dbUserDeactivate', 3);
    // Still waiting: the user the onboarding created is untouched.
    expect((await roleFacts(dbUser)).canLogin).toBe(true);
    hold.open();

    const [onRun, offRun] = await Promise.all([on, off]);
    expect(onRun.status, `${onRun.error}: ${onRun.cause}`).toBe('SUCCEEDED');
    expect(offRun.status, `${offRun.error}: ${offRun.cause}`).toBe('SUCCEEDED');
    expect((await roleFacts(dbUser)).exists).toBe(false);
    expect(sb.aws.iam.connectGrants('role', dbUser)).toEqual([]);
    expect(outputOf(offRun, 'DeactivateDbUser')?.lease).toEqual({ after: onRun.name });
  });

  it('onboarding started while the offboarding is between RevokeConnect and RetireDbUser: it waits, and the user ends with its role and grant', async () => {
    const hold = gate(FUNCTIONS.dbUserRetire);
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions: { ...FUNCTIONS, dbUserRetire: hold.wrapped } });
    const dbUser = uniqueName('race_off');
    const principalArn = sb.aws.iam.addRole(dbUser);
    const first = await sb.runner.run('onboard', uniqueName('on'), onboardInput(uniqueName('req'), principalArn, dbUser));
    expect(first.status).toBe('SUCCEEDED');

    const off = sb.runner.run('offboard', uniqueName('off'), offboardInput(uniqueName('req'), principalArn, dbUser));
    await hold.arrived;
    const on = sb.runner.run('onboard', uniqueName('on'), onboardInput(uniqueName('req'), principalArn, dbUser));
    await invoked(sb, 'dbUserCreate', 4);
    // Still blocked by the offboarding, not turned back on.
    expect((await roleFacts(dbUser)).canLogin).toBe(false);
    hold.open();

    const [offRun, onRun] = await Promise.all([off, on]);
    expect(offRun.status, `${offRun.error}: ${offRun.cause}`).toBe('SUCCEEDED');
    expect(onRun.status, `${onRun.error}: ${onRun.cause}`).toBe('SUCCEEDED');
    const facts = await roleFacts(dbUser);
    expect(facts.canLogin).toBe(true);
    expect(facts.memberOf).toContain('rds_iam');
    expect(sb.aws.iam.connectGrants('role', dbUser)).toHaveLength(1);
    expect(outputOf(onRun, 'CreateDbUser')?.lease).toEqual({ after: offRun.name });
  });
});

describe('the database-user lease', () => {
  const key = { resourceId: 'db-LEASETEST', dbUser: 'someone' };
  const deps = (): DbUserLeaseDeps => ({ ddb: new DynamoDBClient({ region: 'eu-west-1' }), sfn: new SFNClient({ region: 'eu-west-1' }), table: LOCK_TABLE });
  const arnOf = (name: string) => (sb as Sandbox).sfn.executionArn('onboard', name);

  it('is refused to a second execution while the holder runs, and re-entrant for the holder', async () => {
    const hold = gate(FUNCTIONS.connectAllow);
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions: { ...FUNCTIONS, connectAllow: hold.wrapped } });
    const dbUser = uniqueName('lease');
    const holderName = uniqueName('on');
    const run = sb.runner.run('onboard', holderName, onboardInput(uniqueName('req'), sb.aws.iam.addRole(dbUser), dbUser));
    await hold.arrived;
    granting(sb, dbUser);
    const resourceId = sb.aws.rds.databases.get('instance/orders-db')!.resourceId;
    const e = await acquireDbUserLease(deps(), { resourceId, dbUser }, arnOf('someone-else')).catch((err: unknown) => err);
    expect(isProvisioningError(e, 'DbUserBusy')).toBe(true);
    expect(await acquireDbUserLease(deps(), { resourceId, dbUser }, arnOf(holderName))).toEqual({});
    hold.open();
    expect((await run).status).toBe('SUCCEEDED');
  });

  it('is taken over from a holder that ended without releasing it (failed, aborted, or unknown to Step Functions)', async () => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01 });
    const gone = arnOf('never-ran');
    sb.aws.locks.items.set(leaseKeyOf(key), { pk: { S: leaseKeyOf(key) }, owner: { S: gone } });
    const mine = arnOf('mine');
    expect(await acquireDbUserLease(deps(), key, mine)).toEqual({ after: 'never-ran', tookOver: true });
    await releaseDbUserLease(deps(), key, mine);
    expect(await acquireDbUserLease(deps(), key, arnOf('next'))).toEqual({ after: 'mine' });
  });

  it('goes to a waiting offboarding before any onboarding; a mark left by an ended offboarding is cleared', async () => {
    const hold = gate(FUNCTIONS.connectAllow);
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions: { ...FUNCTIONS, connectAllow: hold.wrapped } });
    const dbUser = uniqueName('prio');
    const running = uniqueName('on');
    const run = sb.runner.run('onboard', running, onboardInput(uniqueName('req'), sb.aws.iam.addRole(dbUser), dbUser));
    await hold.arrived;
    const k = { resourceId: 'db-PRIORITY', dbUser: uniqueName('u') };
    // A free lease, and a running offboarding waiting for it (a running execution stands in for it).
    sb.aws.locks.items.set(leaseKeyOf(k), { pk: { S: leaseKeyOf(k) }, offboardingWaiting: { S: arnOf(running) } });
    const refused = await acquireDbUserLease(deps(), k, arnOf('late-onboarding'), 'onboarding').catch((err: unknown) => err);
    expect(isProvisioningError(refused, 'DbUserBusy')).toBe(true);
    expect(await acquireDbUserLease(deps(), k, arnOf('offboarding'), 'offboarding')).toEqual({});
    expect(sb.aws.locks.items.get(leaseKeyOf(k))?.offboardingWaiting).toBeUndefined();
    await releaseDbUserLease(deps(), k, arnOf('offboarding'));

    // The waiting offboarding ended (unknown to Step Functions): the mark goes, and the onboarding gets in.
    sb.aws.locks.items.set(leaseKeyOf(k), { pk: { S: leaseKeyOf(k) }, offboardingWaiting: { S: arnOf('ended-offboarding') } });
    expect(isProvisioningError(await acquireDbUserLease(deps(), k, arnOf('onboarding'), 'onboarding').catch((err: unknown) => err), 'DbUserBusy')).toBe(true);
    expect(await acquireDbUserLease(deps(), k, arnOf('onboarding'), 'onboarding')).toEqual({});
    hold.open();
    expect((await run).status).toBe('SUCCEEDED');
  });

  it('an offboarding that waits marks the lease, so a stream of onboardings cannot starve it', async () => {
    const hold = gate(FUNCTIONS.connectAllow);
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions: { ...FUNCTIONS, connectAllow: hold.wrapped } });
    const dbUser = uniqueName('starve');
    const principalArn = sb.aws.iam.addRole(dbUser);
    const on = sb.runner.run('onboard', uniqueName('on'), onboardInput(uniqueName('req'), principalArn, dbUser));
    await hold.arrived;
    granting(sb, dbUser);
    const offName = uniqueName('off');
    const off = sb.runner.run('offboard', offName, offboardInput(uniqueName('req'), principalArn, dbUser));
    await invoked(sb, 'dbUserDeactivate', 2);
    const resourceId = sb.aws.rds.databases.get('instance/orders-db')!.resourceId;
    expect(sb.aws.locks.items.get(leaseKeyOf({ resourceId, dbUser }))?.offboardingWaiting?.S).toBe(sb.sfn.executionArn('offboard', offName));
    hold.open();
    expect((await Promise.all([on, off])).map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(sb.aws.locks.items.get(leaseKeyOf({ resourceId, dbUser }))?.offboardingWaiting).toBeUndefined();
  });

  it('a grant is refused unless its onboarding still holds the lease it created the user under, whoever holds it now', async () => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01 });
    const a = arnOf('onboarding-a');
    // Taken over by an offboarding, then by others in turn (preemptedFrom now names someone else), then free again.
    const states: Array<Record<string, { S: string }>> = [
      { owner: { S: arnOf('offboarding-o') }, preemptedFrom: { S: a } },
      { owner: { S: arnOf('offboarding-o2') }, preemptedFrom: { S: arnOf('onboarding-b') } },
      { lastOwner: { S: arnOf('offboarding-o2') } },
    ];
    for (const item of states) {
      sb.aws.locks.items.set(leaseKeyOf(key), { pk: { S: leaseKeyOf(key) }, ...item });
      const e = await acquireDbUserLease(deps(), key, a, 'onboarding', 'grant').catch((err: unknown) => err);
      expect(isProvisioningError(e, 'LeasePreempted'), JSON.stringify(item)).toBe(true);
    }
  });

  it('every take says what its holder does: only an onboarding waiting to grant can be taken over; a failed grant waits again', async () => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01 });
    const item = () => sb!.aws.locks.items.get(leaseKeyOf(key));
    // A holder that ended while waiting to grant: whoever takes over does not inherit the mark.
    sb.aws.locks.items.set(leaseKeyOf(key), { pk: { S: leaseKeyOf(key) }, owner: { S: arnOf('ended') }, phase: { S: 'awaiting-grant' } });
    expect(await acquireDbUserLease(deps(), key, arnOf('off-3'), 'offboarding')).toMatchObject({ tookOver: true });
    expect(item()?.phase).toBeUndefined();
    await releaseDbUserLease(deps(), key, arnOf('off-3'));
    // An onboarding creating the user is not preemptable; after CreateDbUser it waits to grant; a failed grant waits again.
    const on = arnOf('on-4');
    await withDbUserLease(deps(), key, on, 'onboarding', false, async () => {
      expect(item()?.phase).toEqual({ S: 'creating' });
      return {};
    });
    expect(item()?.phase).toEqual({ S: 'awaiting-grant' });
    await expect(
      withDbUserLease(
        deps(),
        key,
        on,
        'onboarding',
        true,
        async () => {
          expect(item()?.phase).toEqual({ S: 'granting' });
          throw new Error('IAM refused');
        },
        'grant',
      ),
    ).rejects.toThrow('IAM refused');
    expect(item()?.phase).toEqual({ S: 'awaiting-grant' });
  });

  it('refuses a holder that is not an execution ARN', async () => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01 });
    const e = await acquireDbUserLease(deps(), key, 'not-an-arn').catch((err: unknown) => err);
    expect(isProvisioningError(e, 'ValidationError')).toBe(true);
  });
});
