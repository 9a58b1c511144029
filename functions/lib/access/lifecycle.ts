import { sameRoleOrUser } from '../core/arn';
import { attemptName } from '../api/attempts';
import type { HeldBefore } from '../workflows/grant-end-plan';
import type { ApprovalPolicy } from '../core/config';
import { durationMs } from '../core/durations';
import { ProvisioningError } from '../core/errors';
import { isApprover, type Party } from './policies';

/**
 * The life of an access request, as pure functions over its record: every change is decided here, against the record
 * as it was read, and returned as the record to write under the version it was read at (store.ts writes it
 * conditionally, so of two decisions on one version exactly one is written). Nothing here reads a clock, a store or
 * the configuration itself: the caller passes `now` and the policy as it is at the decision.
 */
export const REQUEST_STATES = [
  'PENDING_APPROVAL',
  'APPROVED',
  'DENIED',
  'APPROVAL_EXPIRED',
  'CANCELLED',
  'SCHEDULED',
  'ACTIVATING',
  'ACTIVE',
  'ACTIVATION_FAILED',
  'ENDING',
  'ENDED',
  'END_FAILED',
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/** ACTIVATION_FAILED: an activation that failed part way is ended too, so what it may have given is taken back. */
export const END_REASONS = ['EXPIRED', 'REVOKED', 'IDENTITY_REMOVED', 'SUPERSEDED', 'PLAN_INVALID', 'ACTIVATION_FAILED'] as const;
export type EndReason = (typeof END_REASONS)[number];

/** Exactly what would be granted; its hash is what an approval attests to (plan-hash.ts). */
export interface GrantPlan {
  target: string;
  /** The DbiResourceId or DbClusterResourceId the connect statement names: a replaced database is another plan. */
  resourceId: string;
  dbUser: string;
  dbRoles: string[];
  databases: string[];
  principalArn: string;
  durationSeconds: number;
}

export interface Vote {
  decision: 'approve' | 'deny';
  /** The caller as SigV4 reported it. */
  by: string;
  /** Its IAM role or user: what "votes once" and "never the requester" compare. */
  principal?: string;
  at: string;
  planHash?: string;
  comment?: string;
  /** The voter was an approver by an Identity Center group (approverGroups), not by ARN. */
  viaGroup?: boolean;
  /** The identity provider removed the voter since (the vote stays on record and no longer counts). */
  voided?: string;
}

/** One change of the record, in order: what happened, to which state, by whom. */
export interface TimelineEntry {
  at: string;
  event: ActionKind | 'requested' | 'auto-approved';
  state: RequestState;
  by?: string;
  comment?: string;
}

export interface AccessRequest {
  requestId: string;
  /** Incremented by every write; a write is made only over the version it was decided on. */
  version: number;
  state: RequestState;
  policy: string;
  /** The policy's thresholds when the request was made: what it was told it needs. */
  required: number;
  denyThreshold: number;
  plan: GrantPlan;
  planHash: string;
  /** ISO 8601, as the policy bounded it. */
  duration: string;
  requestedBy: string;
  /** The requester's IAM role or user, when it has one. */
  requester?: string;
  /** The principal that would be granted. */
  subject: string;
  reason?: string;
  ticket?: string;
  /** When access should start; absent: as soon as it is approved. */
  startAt?: string;
  createdAt: string;
  /** Written once, at creation: a pending request past it is expired, whatever its record says. */
  approvalExpiresAt: string;
  approvedAt?: string;
  /** Written once, when access starts: an active grant past it is expired, even while its end is still running. */
  expiresAt?: string;
  endReason?: EndReason;
  /** The onboarding's execution input as the API validated it when the request was made (what activation runs). */
  onboarding?: Record<string, unknown>;
  /** What the user held before the grant that no other grant accounts for: what its end leaves (recorded at activation). */
  heldBefore?: HeldBefore;
  /** A revoke that came while the grant was being made: the activation ends it as soon as it is made. */
  endRequested?: EndReason;
  /** When the approvers were told that the grant ends soon (once). */
  remindedAt?: string;
  /** What the database and IAM said after the end (access/end.ts EndProof). */
  proof?: unknown;
  /** The request this one extends (POST .../extend), and when the first grant of that chain was activated. */
  extendsRequest?: string;
  chainStartedAt?: string;
  /** The durations granted to the chain so far, this request's included (what maxTotalDuration caps). */
  chainDurationMs?: number;
  /** An extension's duration counts from the extended grant's expiresAt (or from its activation, if that is later). */
  extendsFrom?: string;
  /** Why activation or the end failed (an error code and message). */
  error?: { code: string; message: string };
  votes: Vote[];
  timeline: TimelineEntry[];
}

export type Action =
  | { kind: 'approve'; by: Party; planHash: string }
  | { kind: 'deny'; by: Party; comment: string }
  | { kind: 'cancel'; by: Party; admin: boolean }
  | { kind: 'revoke'; by: Party; admin: boolean }
  | { kind: 'expire-approval' }
  | { kind: 'schedule' }
  | { kind: 'start-activation'; planHash: string; void?: string }
  | { kind: 'activated'; heldBefore: HeldBefore }
  | { kind: 'request-end'; reason: EndReason }
  | { kind: 'remind' }
  | { kind: 'void-votes'; principal: string; at: string }
  | { kind: 'activation-failed'; error: { code: string; message: string } }
  | { kind: 'start-end'; reason: EndReason }
  | { kind: 'ended'; proof: unknown }
  | { kind: 'end-failed'; error: { code: string; message: string } };
export type ActionKind = Action['kind'];

/** From which states each action may be taken. One table: nothing else decides it. */
export const TRANSITIONS: { readonly [K in ActionKind]: readonly RequestState[] } = {
  approve: ['PENDING_APPROVAL'],
  deny: ['PENDING_APPROVAL'],
  cancel: ['PENDING_APPROVAL', 'APPROVED', 'SCHEDULED'],
  'expire-approval': ['PENDING_APPROVAL'],
  schedule: ['APPROVED'],
  'start-activation': ['APPROVED', 'SCHEDULED'],
  activated: ['ACTIVATING'],
  // Also before anything was granted (the target could not be read): the approval is spent, never run months later.
  'activation-failed': ['ACTIVATING', 'APPROVED', 'SCHEDULED'],
  // END_FAILED: the end is run again (the sweeper's redrive), never left as a bare failure.
  'start-end': ['ACTIVE', 'END_FAILED', 'ACTIVATION_FAILED'],
  // While the grant is being made its end must wait for it: the activation ends it once made.
  'request-end': ['ACTIVATING'],
  // Ends access early: an ACTIVE grant is ENDING at once; one still being made ends as soon as it is made.
  revoke: ['ACTIVATING', 'ACTIVE', 'END_FAILED'],
  remind: ['ACTIVE'],
  // The identity provider removed a voter: before activation, their votes no longer count.
  'void-votes': ['PENDING_APPROVAL', 'APPROVED', 'SCHEDULED'],
  ended: ['ENDING'],
  'end-failed': ['ENDING'],
};

/** The write a decision makes: `next` replaces the record, on condition that it is still at `expectedVersion`. */
export interface Transition {
  expectedVersion: number;
  next: AccessRequest;
  /** Set for the one write that approves the request: its writer, and only it, starts what follows (activation). */
  approved: boolean;
}

const passed = (deadline: string | undefined, now: Date): boolean => deadline !== undefined && Date.parse(deadline) <= now.getTime();

/**
 * The state as a reader must take it: a deadline that has passed is expired now, even before anyone has written
 * so (the sweeper does, later). An ACTIVE grant past expiresAt reads ENDING: it no longer counts as access.
 */
export const effectiveState = (r: AccessRequest, now: Date): RequestState => {
  if (r.state === 'PENDING_APPROVAL' && passed(r.approvalExpiresAt, now)) return 'APPROVAL_EXPIRED';
  if (r.state === 'ACTIVE' && passed(r.expiresAt, now)) return 'ENDING';
  return r.state;
};

/**
 * The name of the request's next end execution: the request id, then `<id>.<n>` after n-1 failed ends (a failed
 * execution's name stays taken for 90 days). Every starter of an end (schedule, revoke, sweeper, identity removal)
 * names it so, so they start one execution between them.
 */
export const endExecutionName = (r: AccessRequest): string => attemptName(r.requestId, 1 + r.timeline.filter((t) => t.event === 'end-failed').length);

/** Whether the request's activation got as far as granting (ACTIVATING): only then may something need taking back. */
export const grantWasStarted = (r: AccessRequest): boolean => r.timeline.some((t) => t.event === 'start-activation' && t.state === 'ACTIVATING');

/** Whether a grant is, or is about to be, access: what the end of another grant of the same user must leave. */
export const isLive = (r: AccessRequest, now: Date): boolean => r.state === 'ACTIVATING' || (r.state === 'ACTIVE' && !passed(r.expiresAt, now));

/** Whether two parties are the same IAM role or user (any session of it), or the same caller. */
const same = (a: { arn?: string; principal?: string }, arn: string | undefined, principal: string | undefined): boolean =>
  (a.arn !== undefined && a.arn === arn) || (a.principal !== undefined && principal !== undefined && sameRoleOrUser(a.principal, principal));

const refuse = (code: 'SelfApproval' | 'NotAuthorized' | 'AlreadyVoted' | 'PlanChanged', r: AccessRequest, message: string): ProvisioningError =>
  new ProvisioningError(code, message, { details: { requestId: r.requestId, state: r.state } });

/** Who may vote on the request: an approver of its policy now, never its requester or subject, once. */
const checkVoter = (r: AccessRequest, by: Party, policy: ApprovalPolicy | undefined, verb: string): void => {
  if (same({ arn: r.requestedBy, principal: r.requester }, by.arn, by.principal))
    throw refuse('SelfApproval', r, `${by.arn} sent access request "${r.requestId}" and can never ${verb} it`);
  if (same({ principal: r.subject }, by.arn, by.principal))
    throw refuse('SelfApproval', r, `${by.arn} is the subject of access request "${r.requestId}" (${r.subject}) and can never ${verb} it`);
  if (!policy)
    throw refuse('NotAuthorized', r, `approval policy "${r.policy}" of access request "${r.requestId}" is no longer configured: nobody may ${verb} it`);
  if (!isApprover(policy, by))
    throw refuse('NotAuthorized', r, `${by.arn} is not an approver of approval policy "${policy.name}" (approvers, approverGroups), so may not ${verb} it`);
  const earlier = r.votes.find((v) => same({ arn: v.by, principal: v.principal }, by.arn, by.principal));
  if (earlier)
    throw refuse('AlreadyVoted', r, `${by.arn} already voted on access request "${r.requestId}" (${earlier.decision}, ${earlier.at}), as ${earlier.by}`);
};

/** Why an action cannot be taken from the request's state, with a code that says which kind of "no" it is. */
const checkState = (r: AccessRequest, action: ActionKind, now: Date): void => {
  const state = effectiveState(r, now);
  if (state === 'APPROVAL_EXPIRED' && r.state === 'PENDING_APPROVAL' && action !== 'expire-approval')
    throw new ProvisioningError(
      'ApprovalExpired',
      `access request "${r.requestId}" expired at ${r.approvalExpiresAt} without the approvals it needed: it can no longer be decided or cancelled`,
      { details: { requestId: r.requestId, approvalExpiresAt: r.approvalExpiresAt } },
    );
  if (!TRANSITIONS[action].includes(r.state))
    throw new ProvisioningError(
      'RequestStateConflict',
      `access request "${r.requestId}" is ${state}: "${action}" is possible only when it is ${TRANSITIONS[action].join(' or ')}`,
      { details: { requestId: r.requestId, state, allowedFrom: TRANSITIONS[action] } },
    );
};

/** Votes that count: a voter the identity provider removed since counts no more. */
const count = (votes: readonly Vote[], decision: Vote['decision']): number => votes.filter((v) => v.decision === decision && !v.voided).length;

/**
 * The one place that decides a change: whether `action` may be taken on `r` now (who, from which state, before which
 * deadline), and the record it leaves. Throws a typed refusal otherwise; nothing is then written. `policy` is the
 * request's approval policy as configured now (undefined when it is gone), for the eligibility of a voter.
 */
export const decide = (r: AccessRequest, action: Action, ctx: { now: Date; policy?: ApprovalPolicy }): Transition => {
  const at = ctx.now.toISOString();
  if (action.kind === 'approve' || action.kind === 'deny') checkVoter(r, action.by, ctx.policy, action.kind);
  if (
    (action.kind === 'cancel' || action.kind === 'revoke') &&
    !action.admin &&
    !same({ arn: r.requestedBy, principal: r.requester }, action.by.arn, action.by.principal)
  ) {
    if (!same({ principal: r.subject }, action.by.arn, action.by.principal))
      throw refuse(
        'NotAuthorized',
        r,
        `${action.by.arn} may not ${action.kind} access request "${r.requestId}": only its requester, its subject and administrators may`,
      );
  }
  checkState(r, action.kind, ctx.now);
  if (action.kind === 'expire-approval' && !passed(r.approvalExpiresAt, ctx.now))
    throw new ProvisioningError('RequestStateConflict', `access request "${r.requestId}" is pending until ${r.approvalExpiresAt}: it has not expired`, {
      details: { requestId: r.requestId, approvalExpiresAt: r.approvalExpiresAt },
    });

  if (action.kind === 'schedule' && !(r.startAt !== undefined && !passed(r.startAt, ctx.now)))
    throw new ProvisioningError('RequestStateConflict', `access request "${r.requestId}" has no start in the future: it is activated now, not scheduled`, {
      details: { requestId: r.requestId, ...(r.startAt ? { startAt: r.startAt } : {}) },
    });
  if (action.kind === 'start-activation' && r.startAt !== undefined && !passed(r.startAt, ctx.now))
    throw new ProvisioningError('RequestStateConflict', `access request "${r.requestId}" starts at ${r.startAt}, not before`, {
      details: { requestId: r.requestId, startAt: r.startAt },
    });

  const entry = (state: RequestState, extra: Partial<TimelineEntry> = {}): TimelineEntry => ({ at, event: action.kind, state, ...extra });
  const write = (changes: Partial<AccessRequest>, state: RequestState, extra: Partial<TimelineEntry> = {}, approved = false): Transition => ({
    expectedVersion: r.version,
    next: { ...r, ...changes, state, version: r.version + 1, timeline: [...r.timeline, entry(state, extra)] },
    approved,
  });

  switch (action.kind) {
    case 'approve': {
      if (action.planHash !== r.planHash)
        throw refuse(
          'PlanChanged',
          r,
          `planHash ${action.planHash} is not that of access request "${r.requestId}" (${r.planHash}): ` +
            `read the request again and approve the plan it would grant`,
        );
      const votes = [...r.votes, { decision: 'approve' as const, by: action.by.arn, principal: action.by.principal, at, planHash: action.planHash }];
      const enough = count(votes, 'approve') >= r.required;
      return write({ votes, ...(enough ? { approvedAt: at } : {}) }, enough ? 'APPROVED' : 'PENDING_APPROVAL', { by: action.by.arn }, enough);
    }
    case 'deny': {
      const votes = [...r.votes, { decision: 'deny' as const, by: action.by.arn, principal: action.by.principal, at, comment: action.comment }];
      const denied = count(votes, 'deny') >= r.denyThreshold;
      return write({ votes }, denied ? 'DENIED' : 'PENDING_APPROVAL', { by: action.by.arn, comment: action.comment });
    }
    case 'cancel':
      return write({}, 'CANCELLED', { by: action.by.arn });
    case 'expire-approval':
      return write({}, 'APPROVAL_EXPIRED');
    case 'schedule':
      return write({}, 'SCHEDULED');
    case 'start-activation':
      // An approval attests to one plan: if what would be granted now differs, the approval is void.
      if (action.planHash !== r.planHash) return write({ endReason: 'PLAN_INVALID' }, 'ACTIVATION_FAILED', { comment: `plan is now ${action.planHash}` });
      if (action.void) return write({ endReason: 'PLAN_INVALID' }, 'ACTIVATION_FAILED', { comment: action.void });
      return write({}, 'ACTIVATING');
    case 'activated':
      // Written once: a later write (a retried activation) keeps the first deadline.
      return write(
        {
          expiresAt: r.expiresAt ?? new Date(Math.max(ctx.now.getTime(), r.extendsFrom ? Date.parse(r.extendsFrom) : 0) + durationMs(r.duration)).toISOString(),
          heldBefore: r.heldBefore ?? action.heldBefore,
        },
        'ACTIVE',
      );
    case 'revoke':
      if (r.state === 'ACTIVATING') return write({ endRequested: r.endRequested ?? 'REVOKED' }, 'ACTIVATING', { by: action.by.arn });
      return write({ endReason: r.endReason ?? 'REVOKED' }, 'ENDING', { by: action.by.arn });
    case 'request-end':
      return write({ endRequested: r.endRequested ?? action.reason }, 'ACTIVATING', { comment: action.reason });
    case 'void-votes': {
      const votes = r.votes.map((v) =>
        !v.voided && v.principal !== undefined && sameRoleOrUser(v.principal, action.principal)
          ? { ...v, voided: `voter removed by the identity provider at ${action.at}` }
          : v,
      );
      return write({ votes }, r.state, { comment: `votes of ${action.principal} no longer count` });
    }
    case 'remind':
      return write({ remindedAt: r.remindedAt ?? at }, 'ACTIVE');
    case 'activation-failed':
      return write({ error: action.error }, 'ACTIVATION_FAILED', { comment: `${action.error.code}: ${action.error.message}` });
    case 'start-end':
      // The first reason stays: revoke, expiry and identity removal all start the same end.
      return write({ endReason: r.endReason ?? action.reason }, 'ENDING', { comment: action.reason });
    case 'ended':
      return write({ proof: action.proof }, 'ENDED');
    case 'end-failed':
      return write({ error: action.error }, 'END_FAILED', { comment: `${action.error.code}: ${action.error.message}` });
  }
};

/** A new request, as the API stores it: pending until approved, or approved at once when its policy auto-approves it. */
export const newAccessRequest = (
  fields: Omit<AccessRequest, 'version' | 'state' | 'votes' | 'timeline' | 'createdAt' | 'approvalExpiresAt' | 'approvedAt' | 'required' | 'denyThreshold'>,
  policy: ApprovalPolicy,
  ctx: { now: Date; autoApproved: boolean },
): Transition => {
  const at = ctx.now.toISOString();
  const state: RequestState = ctx.autoApproved ? 'APPROVED' : 'PENDING_APPROVAL';
  return {
    expectedVersion: 0,
    next: {
      ...fields,
      version: 1,
      state,
      required: policy.required,
      denyThreshold: policy.denyThreshold,
      createdAt: at,
      approvalExpiresAt: new Date(ctx.now.getTime() + durationMs(policy.pendingTtl)).toISOString(),
      ...(ctx.autoApproved ? { approvedAt: at } : {}),
      votes: [],
      timeline: [
        { at, event: 'requested', state: 'PENDING_APPROVAL', by: fields.requestedBy, ...(fields.reason ? { comment: fields.reason } : {}) },
        ...(ctx.autoApproved ? [{ at, event: 'auto-approved' as const, state }] : []),
      ],
    },
    approved: ctx.autoApproved,
  };
};
