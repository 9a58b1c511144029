import { AttachRolePolicyCommand, CreatePolicyCommand, GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { afterEach, describe, expect, it } from 'vitest';
import { isIamWrite, paceOf, pacedIam } from '../functions/lib/iam/pacing';
import { type ExecutionRecord, statePath } from '../dev/asl-runner';
import { createSandbox, type Sandbox } from '../dev/sandbox';
import { testPg, uniqueName } from './support/pg';

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
    expect(reads.every((t) => t < 50), `reads at ${reads.join(', ')} ms`).toBe(true);
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
  it('30 at once with iam.writesPerSecond 10: none throttled, none compensated, in about the rate\'s own time', async () => {
    // IAM admits 10 mutating calls a second (a bucket of 10): what the configuration says the account allows.
    sb = createSandbox({ pg: testPg(), waitMs: 1, iam: { throttle: { ratePerSecond: 10, burst: 10 } }, iamPace: { writesPerSecond: 10, grantConcurrency: 2 } });
    const s = sb;
    const first = await s.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn: s.aws.iam.addRole(uniqueName('Warm')), target: 'orders' });
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
