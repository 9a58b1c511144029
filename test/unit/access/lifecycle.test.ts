/**
 * The request lifecycle (functions/lib/access/lifecycle.ts): who may take each step, from which states, before which
 * deadline, and the record each step leaves. Pure: no clock, no store.
 */
import { describe, expect, it } from 'vitest';
import { type AccessRequest, type Action, decide, effectiveState, newAccessRequest, TRANSITIONS } from '../../../functions/lib/access/lifecycle';
import { grantPlanOf, planHashOf } from '../../../functions/lib/access/plan-hash';
import type { Party } from '../../../functions/lib/access/policies';
import { type ApprovalPolicy, schemas } from '../../../functions/lib/core/config';
import { ProvisioningError } from '../../../functions/lib/core/errors';

const ACCOUNT = '123456789012';
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const session = (name: string, s = 'laptop'): Party => ({ arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/${s}`, principal: role(name) });

const POLICY: ApprovalPolicy = schemas().approvalPolicySchema.parse({
  name: 'prod-write',
  match: { targets: ['orders'] },
  approvers: [role('dba-*'), role('alice')],
  required: 2,
  denyThreshold: 2,
});

const T0 = new Date('2026-12-01T10:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

const plan = grantPlanOf(
  {
    target: { name: 'orders', kind: 'instance', identifier: 'orders-db', resourceId: 'db-ABC', endpoint: 'h:5432', engineVersion: '16', iamAuthEnabled: true },
    dbUser: 'alice',
  },
  { principalArn: role('alice'), dbRoles: ['app_write'], databases: ['app'], durationMs: 3_600_000 },
);
const HASH = planHashOf(plan);

const pending = (extra: Partial<AccessRequest> = {}): AccessRequest => ({
  ...newAccessRequest(
    {
      requestId: 'r1',
      policy: 'prod-write',
      plan,
      planHash: HASH,
      duration: 'PT1H',
      requestedBy: session('alice').arn,
      requester: role('alice'),
      subject: role('alice'),
    },
    POLICY,
    { now: T0, autoApproved: false },
  ).next,
  ...extra,
});

const refusal = (f: () => unknown): ProvisioningError => {
  try {
    f();
  } catch (e) {
    if (e instanceof ProvisioningError) return e;
    throw e;
  }
  throw new Error('not refused');
};
const approve = (by: Party, planHash = HASH): Action => ({ kind: 'approve', by, planHash });
const ctx = (minutes = 1) => ({ now: at(minutes), policy: POLICY });

describe('a new request', () => {
  it('is PENDING_APPROVAL with its deadline written as data, and version 1, created only where none exists', () => {
    const r = pending();
    expect(r).toMatchObject({ state: 'PENDING_APPROVAL', version: 1, required: 2, denyThreshold: 2, approvalExpiresAt: '2026-12-01T14:00:00.000Z' });
    expect(newAccessRequest(r, POLICY, { now: T0, autoApproved: false }).expectedVersion).toBe(0);
    expect(r.timeline).toEqual([{ at: T0.toISOString(), event: 'requested', state: 'PENDING_APPROVAL', by: session('alice').arn }]);
  });

  it('auto-approved: APPROVED at once, and that write is the one that starts activation', () => {
    const t = newAccessRequest(pending(), POLICY, { now: T0, autoApproved: true });
    expect(t).toMatchObject({ approved: true, next: { state: 'APPROVED', approvedAt: T0.toISOString() } });
    expect(t.next.timeline.map((e) => e.event)).toEqual(['requested', 'auto-approved']);
  });
});

describe('votes', () => {
  it('the requester and the subject can never approve, from any session of their role (403)', () => {
    // alice is on the approver list: being an approver does not let her approve her own request.
    for (const by of [session('alice'), session('alice', 'other-session')])
      expect(refusal(() => decide(pending(), approve(by), ctx())).code).toBe('SelfApproval');
    const forBob = pending({ requestedBy: session('dba-admin').arn, requester: role('dba-admin'), subject: role('dba-bob') });
    expect(refusal(() => decide(forBob, approve(session('dba-bob')), ctx())).message).toContain('is the subject');
    expect(refusal(() => decide(forBob, approve(session('dba-admin')), ctx())).message).toContain('sent access request');
    expect(refusal(() => decide(forBob, { kind: 'deny', by: session('dba-bob'), comment: 'no' }, ctx())).code).toBe('SelfApproval');
  });

  it('only approvers of the policy as configured now may vote (403); a policy no longer configured lets nobody', () => {
    expect(refusal(() => decide(pending(), approve(session('dev')), ctx())).code).toBe('NotAuthorized');
    expect(refusal(() => decide(pending(), approve(session('dba-1')), { now: at(1) })).message).toContain('no longer configured');
  });

  it('N of M: the first approval leaves it pending, the second approves it, and only that write is "approved"', () => {
    const one = decide(pending(), approve(session('dba-1')), ctx());
    expect(one).toMatchObject({ expectedVersion: 1, approved: false, next: { state: 'PENDING_APPROVAL', version: 2 } });
    const two = decide(one.next, approve(session('dba-2')), ctx(2));
    expect(two).toMatchObject({ expectedVersion: 2, approved: true, next: { state: 'APPROVED', version: 3, approvedAt: at(2).toISOString() } });
    expect(two.next.votes.map((v) => [v.decision, v.principal])).toEqual([
      ['approve', role('dba-1')],
      ['approve', role('dba-2')],
    ]);
    // Decided: a third approver is told so (409), nothing is written.
    expect(refusal(() => decide(two.next, approve(session('dba-3')), ctx(3))).code).toBe('RequestStateConflict');
  });

  it('an approver votes once, whatever the session (409)', () => {
    const one = decide(pending(), approve(session('dba-1')), ctx()).next;
    expect(refusal(() => decide(one, approve(session('dba-1', 'again')), ctx())).code).toBe('AlreadyVoted');
    expect(refusal(() => decide(one, { kind: 'deny', by: session('dba-1'), comment: 'changed my mind' }, ctx())).code).toBe('AlreadyVoted');
  });

  it('an approval binds to the plan: another planHash is refused (409)', () => {
    const other = planHashOf({ ...plan, resourceId: 'db-REPLACED' });
    expect(other).not.toBe(HASH);
    expect(refusal(() => decide(pending(), approve(session('dba-1'), other), ctx())).code).toBe('PlanChanged');
  });

  it('the deny threshold: one denial of two leaves it pending, the second denies it', () => {
    const one = decide(pending(), { kind: 'deny', by: session('dba-1'), comment: 'not now' }, ctx());
    expect(one.next.state).toBe('PENDING_APPROVAL');
    const two = decide(one.next, { kind: 'deny', by: session('dba-2'), comment: 'agreed' }, ctx());
    expect(two).toMatchObject({ approved: false, next: { state: 'DENIED' } });
    expect(two.next.timeline.at(-1)).toMatchObject({ event: 'deny', state: 'DENIED', by: session('dba-2').arn, comment: 'agreed' });
  });
});

describe('deadlines are data', () => {
  it('a passed approvalExpiresAt reads expired, and nobody can approve, deny or cancel any more (409)', () => {
    const r = pending();
    expect(effectiveState(r, at(239))).toBe('PENDING_APPROVAL');
    expect(effectiveState(r, at(240))).toBe('APPROVAL_EXPIRED');
    for (const action of [
      approve(session('dba-1')),
      { kind: 'deny', by: session('dba-1'), comment: 'x' } as const,
      { kind: 'cancel', by: session('alice'), admin: false } as const,
    ])
      expect(refusal(() => decide(r, action, ctx(240))).code, action.kind).toBe('ApprovalExpired');
  });

  it('votes do not move the deadline', () => {
    const one = decide(pending(), approve(session('dba-1')), ctx(200)).next;
    expect(one.approvalExpiresAt).toBe(pending().approvalExpiresAt);
  });

  it('expire-approval is written only once the deadline has passed', () => {
    expect(refusal(() => decide(pending(), { kind: 'expire-approval' }, ctx(10))).code).toBe('RequestStateConflict');
    expect(decide(pending(), { kind: 'expire-approval' }, ctx(240)).next.state).toBe('APPROVAL_EXPIRED');
  });

  it('expiresAt is written once, when access starts, and an ACTIVE grant past it reads ENDING', () => {
    const approved = { ...pending(), state: 'APPROVED' as const };
    const activating = decide(approved, { kind: 'start-activation', planHash: HASH }, ctx(10)).next;
    const active = decide(activating, { kind: 'activated' }, ctx(11)).next;
    expect(active).toMatchObject({ state: 'ACTIVE', expiresAt: at(71).toISOString() });
    expect(effectiveState(active, at(70))).toBe('ACTIVE');
    expect(effectiveState(active, at(71))).toBe('ENDING');
    // A retried "activated" (the same record again) keeps the first deadline.
    expect(decide({ ...activating, expiresAt: active.expiresAt }, { kind: 'activated' }, ctx(30)).next.expiresAt).toBe(active.expiresAt);
  });
});

describe('cancel, activation and the end', () => {
  it('the requester, the subject or an administrator may cancel while pending, approved or scheduled; nobody else', () => {
    expect(decide(pending(), { kind: 'cancel', by: session('alice'), admin: false }, ctx()).next.state).toBe('CANCELLED');
    expect(decide(pending(), { kind: 'cancel', by: session('platform-admin'), admin: true }, ctx()).next.state).toBe('CANCELLED');
    expect(refusal(() => decide(pending(), { kind: 'cancel', by: session('dba-1'), admin: false }, ctx())).code).toBe('NotAuthorized');
    for (const state of TRANSITIONS.cancel)
      expect(decide({ ...pending(), state }, { kind: 'cancel', by: session('alice'), admin: false }, ctx()).next.state).toBe('CANCELLED');
    expect(refusal(() => decide({ ...pending(), state: 'ACTIVE' }, { kind: 'cancel', by: session('alice'), admin: false }, ctx())).code).toBe(
      'RequestStateConflict',
    );
  });

  it('a start in the future is scheduled, not activated before it', () => {
    const later = { ...pending(), state: 'APPROVED' as const, startAt: at(60).toISOString() };
    expect(refusal(() => decide(later, { kind: 'start-activation', planHash: HASH }, ctx(30))).code).toBe('RequestStateConflict');
    const scheduled = decide(later, { kind: 'schedule' }, ctx(30)).next;
    expect(decide(scheduled, { kind: 'start-activation', planHash: HASH }, ctx(60)).next.state).toBe('ACTIVATING');
    expect(refusal(() => decide({ ...later, startAt: undefined }, { kind: 'schedule' }, ctx(30))).code).toBe('RequestStateConflict');
  });

  it('a plan that changed before activation voids the approval (PLAN_INVALID)', () => {
    const t = decide({ ...pending(), state: 'APPROVED' }, { kind: 'start-activation', planHash: planHashOf({ ...plan, resourceId: 'db-NEW' }) }, ctx());
    expect(t.next).toMatchObject({ state: 'ACTIVATION_FAILED', endReason: 'PLAN_INVALID' });
  });

  it('the end: ACTIVE -> ENDING -> ENDED or END_FAILED, which runs again; the first end reason stays', () => {
    const active = { ...pending(), state: 'ACTIVE' as const, expiresAt: at(60).toISOString() };
    const ending = decide(active, { kind: 'start-end', reason: 'REVOKED' }, ctx()).next;
    expect(ending).toMatchObject({ state: 'ENDING', endReason: 'REVOKED' });
    expect(refusal(() => decide(ending, { kind: 'start-end', reason: 'EXPIRED' }, ctx())).code).toBe('RequestStateConflict');
    const failed = decide(ending, { kind: 'end-failed', error: { code: 'TransientDatabaseError', message: 'lost' } }, ctx()).next;
    expect(failed.state).toBe('END_FAILED');
    const again = decide(failed, { kind: 'start-end', reason: 'EXPIRED' }, ctx()).next;
    expect(again).toMatchObject({ state: 'ENDING', endReason: 'REVOKED' });
    expect(decide(again, { kind: 'ended' }, ctx()).next.state).toBe('ENDED');
  });

  it('every state but the terminal ones has a way out, and the terminal ones have none', () => {
    const from = new Set(Object.values(TRANSITIONS).flat());
    for (const terminal of ['DENIED', 'APPROVAL_EXPIRED', 'CANCELLED', 'ACTIVATION_FAILED', 'ENDED'] as const) expect(from.has(terminal), terminal).toBe(false);
    for (const live of ['PENDING_APPROVAL', 'APPROVED', 'SCHEDULED', 'ACTIVATING', 'ACTIVE', 'ENDING', 'END_FAILED'] as const)
      expect(from.has(live), live).toBe(true);
  });
});

describe('planHash', () => {
  it('covers target, resource id, user, roles, databases, principal and duration; list order does not matter', () => {
    const same = grantPlanOf(
      {
        target: {
          name: 'orders',
          kind: 'instance',
          identifier: 'orders-db',
          resourceId: 'db-ABC',
          endpoint: 'h:5432',
          engineVersion: '16',
          iamAuthEnabled: true,
        },
        dbUser: 'alice',
      },
      { principalArn: role('alice'), dbRoles: ['app_write', 'app_write'], databases: ['app'], durationMs: 3_600_000 },
    );
    expect(planHashOf(same)).toBe(HASH);
    for (const changed of [
      { target: 'other' },
      { resourceId: 'db-XYZ' },
      { dbUser: 'bob' },
      { dbRoles: ['app_read'] },
      { databases: [] },
      { principalArn: role('bob') },
      { durationSeconds: 7200 },
    ])
      expect(planHashOf({ ...plan, ...changed }), JSON.stringify(changed)).not.toBe(HASH);
    expect(HASH).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
