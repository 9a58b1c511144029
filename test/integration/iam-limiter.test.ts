import { AttachRolePolicyCommand, CreatePolicyCommand, GetRoleCommand, type IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { afterEach, describe, expect, it } from 'vitest';
import { isIamWrite, paceOf, pacedIam } from '../../functions/lib/iam/pacing';
import { queueHandler } from '../../functions/connect-allow';
import { type ExecutionRecord, statePath } from '../../dev/asl-runner';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { iamFaults } from '../../dev/simulated-aws';
import { roleFacts, testPg, uniqueName } from '../support/pg';

/**
 * The IAM limiter (docs/design.md "IAM's rate"): AllowConnect waits in ConnectAllowQueue for one of
 * iam.grantConcurrency slots, and the grant steps together write at most iam.writesPerSecond.
 */
describe('pacedIam: writes spaced, reads not', () => {
  it('spaces mutating calls by the pace and lets reads through at once', async () => {
    const sent: Array<{ name: string; at: number }> = [];
    const t0 = performance.now();
    const fake = { send: async (c: object) => sent.push({ name: c.constructor.name, at: performance.now() - t0 }) } as unknown as IAMClient;
    // 20 writes/s shared by 2 containers: this container writes every 100 ms.
    const pace = paceOf(20, 2);
    expect(pace.intervalMs).toBe(100);
    const iam = pacedIam(fake, pace);
    await Promise.all([
      ...Array.from({ length: 4 }, () => iam.send(new CreatePolicyCommand({ PolicyName: 'p', PolicyDocument: '{}' }))),
      ...Array.from({ length: 3 }, () => iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'r' }))),
    ]);
    const writes = sent.filter((s) => s.name === 'CreatePolicyCommand').map((s) => s.at);
    const reads = sent.filter((s) => s.name === 'ListAttachedRolePoliciesCommand').map((s) => s.at);
    expect(
      reads.every((t) => t < 50),
      `reads at ${reads.join(', ')} ms`,
    ).toBe(true);
    for (let i = 1; i < writes.length; i++) expect(writes[i] - writes[i - 1], `writes at ${writes.join(', ')} ms`).toBeGreaterThanOrEqual(95);
  });

  it('counts every mutating command the grant steps send as a write, and no read', () => {
    expect(isIamWrite(new CreatePolicyCommand({ PolicyName: 'p', PolicyDocument: '{}' }))).toBe(true);
    expect(isIamWrite(new AttachRolePolicyCommand({ RoleName: 'r', PolicyArn: 'a' }))).toBe(true);
    expect(isIamWrite(new GetRoleCommand({ RoleName: 'r' }))).toBe(false);
  });
});

let sb: Sandbox | undefined;
afterEach(() => {
  sb?.restore();
  sb = undefined;
});

const outcome = (r: ExecutionRecord): string => `${r.status}${r.error ? ` ${r.error}: ${r.cause}` : ''}`;

describe('onboardings against IAM throttled at 10 writes/s', () => {
  it("30 at once with iam.writesPerSecond 10: none throttled, none compensated, in about the rate's own time", async () => {
    // IAM admits 10 mutating calls a second (a bucket of 10): what the configuration says the account allows.
    sb = createSandbox({ pg: testPg(), waitMs: 1, iam: { throttle: { ratePerSecond: 10, burst: 10 } }, iamPace: { writesPerSecond: 10, grantConcurrency: 2 } });
    const s = sb;
    const first = await s.runner.run('onboard', uniqueName('req'), {
      requestId: uniqueName('req'),
      principalArn: s.aws.iam.addRole(uniqueName('Warm')),
      target: 'orders',
    });
    expect(outcome(first)).toBe('SUCCEEDED');
    const writesBefore = s.aws.stubs.iam.calls().filter((c) => isIamWrite(c.args[0])).length;
    const t0 = performance.now();
    const runs = await Promise.all(
      Array.from({ length: 30 }, () => {
        const id = uniqueName('req');
        return s.runner.run('onboard', id, { requestId: id, principalArn: s.aws.iam.addRole(uniqueName('Paced')), target: 'orders' });
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const writes = s.aws.stubs.iam.calls().filter((c) => isIamWrite(c.args[0])).length - writesBefore;
    expect(runs.map(outcome)).toEqual(runs.map(() => 'SUCCEEDED'));
    expect(runs.flatMap(statePath)).not.toContain('CompensateDbUser');
    expect(s.aws.iam.stats.throttled).toBe(0);
    // No retry of AllowConnect at all: its waiting is in the queue.
    expect(runs.flatMap((r) => r.events).filter((e) => e.type === 'StateRetried')).toEqual([]);
    expect(s.runner.stats.peakConcurrency.connectAllow).toBeLessThanOrEqual(2);
    // A new principal costs CreatePolicy and AttachRolePolicy: 60 writes at 10/s take 6 s at least (the first goes at once).
    expect(writes).toBe(60);
    expect(seconds).toBeGreaterThanOrEqual((writes - 1) / 10 - 0.2);
    expect(seconds).toBeLessThan((writes / 10) * 2);
  }, 60_000);
});

describe('the IAM limiter against a leaver', () => {
  it('a late copy of an AllowConnect message (its run ended, the user offboarded) grants nothing', async () => {
    let captured: unknown;
    const functions = {
      ...FUNCTIONS,
      connectAllow: {
        ...FUNCTIONS.connectAllow,
        handler: async (input: never) => {
          captured = input;
          return FUNCTIONS.connectAllow.handler(input);
        },
      },
    };
    sb = createSandbox({ pg: testPg(), waitMs: 1, functions });
    const s = sb;
    const role = uniqueName('Leaver');
    const principalArn = s.aws.iam.addRole(role);
    const dbUser = uniqueName('leaver').toLowerCase();
    const on = await s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' });
    expect(outcome(on)).toBe('SUCCEEDED');
    const off = await s.runner.run('offboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' });
    expect(outcome(off)).toBe('SUCCEEDED');
    expect(s.aws.iam.connectGrants('role', role)).toEqual([]);
    // SQS delivers the message once more (at least once), long after the run answered it: the deployed consumer runs it.
    await queueHandler({
      Records: [{ messageId: 'late-copy', body: JSON.stringify({ taskToken: `${on.name}/AllowConnect/answered-long-ago`, input: captured }) }],
    } as never);
    expect(s.aws.iam.connectGrants('role', role)).toEqual([]);
    expect((await roleFacts(dbUser)).exists).toBe(false);
  }, 60_000);

  it('an offboarding does not wait behind the IAM queue: it takes the user over, and the waiting onboarding grants nothing and is undone', async () => {
    // Both grant slots held by two other onboardings, so the leaver's AllowConnect waits in the queue.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const blockers = new Set<string>();
    const functions = {
      ...FUNCTIONS,
      connectAllow: {
        ...FUNCTIONS.connectAllow,
        handler: async (input: never) => {
          if (blockers.has((input as { request: { dbUser: string } }).request.dbUser)) await gate;
          return FUNCTIONS.connectAllow.handler(input);
        },
      },
    };
    sb = createSandbox({ pg: testPg(), waitMs: 1, functions, iamPace: { grantConcurrency: 2 } });
    const s = sb;
    const start = (dbUser: string, role: string) => {
      const id = uniqueName('req');
      return { id, done: s.runner.run('onboard', id, { requestId: id, principalArn: s.aws.iam.addRole(role), dbUser, target: 'orders' }) };
    };
    const held = [0, 1].map((i) => {
      const dbUser = uniqueName(`blocker${i}`).toLowerCase();
      blockers.add(dbUser);
      return start(dbUser, uniqueName(`Blocker${i}`));
    });
    const reached = async (id: string, state: string) => {
      for (let i = 0; i < 400; i++) {
        const r = s.runner.find('onboard', id);
        if (r?.events.some((e) => e.type === 'StateEntered' && (e as { state?: { name?: string } }).state?.name === state)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`${id} never reached ${state}`);
    };
    for (const h of held) await reached(h.id, 'AllowConnect');
    const role = uniqueName('Leaver');
    const dbUser = uniqueName('leaver').toLowerCase();
    const leaver = start(dbUser, role);
    await reached(leaver.id, 'AllowConnect');
    expect(s.runner.queues.get('ConnectAllowQueue')?.stats.peakBacklog).toBeGreaterThanOrEqual(1);
    expect((await roleFacts(dbUser)).exists).toBe(true);
    const principalArn = `arn:aws:iam::123456789012:role/${role}`;
    const off = await s.runner.run('offboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, dbUser, target: 'orders' });
    // Done while the grant slots are still held: the offboarding never waited for the queue.
    expect(outcome(off)).toBe('SUCCEEDED');
    expect((await roleFacts(dbUser)).exists).toBe(false);
    open();
    const on = await leaver.done;
    expect(on.status).toBe('FAILED');
    expect(on.error).toBe('LeasePreempted');
    expect(statePath(on)).toContain('CompensateDbUser');
    expect(s.aws.iam.connectGrants('role', role)).toEqual([]);
    expect((await roleFacts(dbUser)).exists).toBe(false);
    for (const h of held) expect(outcome(await h.done)).toBe('SUCCEEDED');
  }, 90_000);
});

describe('the IAM limiter under faults', () => {
  it('a grant whose reply is lost after IAM acted, then a grant slot that dies: both retried to success, the grant there once', async () => {
    let hung = 0;
    const victim = uniqueName('hung').toLowerCase();
    const functions = {
      ...FUNCTIONS,
      connectAllow: {
        ...FUNCTIONS.connectAllow,
        // The victim's first delivery never returns, as an invocation frozen or killed mid-step.
        handler: async (input: never) => {
          if ((input as { request: { dbUser: string } }).request.dbUser === victim && hung++ === 0) return new Promise<never>(() => undefined);
          return FUNCTIONS.connectAllow.handler(input);
        },
      },
    };
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryScale: 0.01, functions, queue: { functionTimeoutMs: 2_000, visibilityTimeoutMs: 3_000 } });
    const s = sb;
    // IAM attaches the policy and the reply is lost on the way back.
    s.aws.iam.faults.next('AttachRolePolicy', iamFaults.timeout, { afterEffect: true });
    const lostRole = uniqueName('LostReply');
    const hungRole = uniqueName('Hung');
    const [lost, dead] = await Promise.all([
      s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn: s.aws.iam.addRole(lostRole), target: 'orders' }),
      s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn: s.aws.iam.addRole(hungRole), dbUser: victim, target: 'orders' }),
    ]);
    expect(outcome(lost)).toBe('SUCCEEDED');
    expect(outcome(dead)).toBe('SUCCEEDED');
    expect(s.aws.iam.faults.fired).toMatchObject({ AttachRolePolicy: 1 });
    expect(s.aws.iam.connectGrants('role', lostRole)).toHaveLength(1);
    expect(s.aws.iam.connectGrants('role', hungRole)).toHaveLength(1);
    const queue = s.runner.queues.get('ConnectAllowQueue')?.stats;
    expect(queue?.timeouts).toBe(1);
    expect(queue?.redeliveries).toBe(1);
    expect(statePath(lost)).not.toContain('CompensateDbUser');
  }, 60_000);
});
