import * as z from 'zod';
import { type AccessRequest, type Action, decide, newAccessRequest, REQUEST_STATES, type RequestState, effectiveState } from '../access/lifecycle';
import { grantPlanOf, planHashOf } from '../access/plan-hash';
import { checkAgainstPolicy, isApprover, type MatchedPolicy, type Party, policyNamed } from '../access/policies';
import type { AccessRequestStore } from '../access/store';
import { accessRequestView } from '../access/view';
import { sameRoleOrUser } from '../core/arn';
import type { Config } from '../core/config';
import { invalid, isProvisioningError, ProvisioningError } from '../core/errors';
import { durationMs, formatDuration, parseDuration } from '../core/durations';
import { type ExecutionsDeps, findRequest } from '../core/executions';
import { logger } from '../core/logger';
import { parseWith } from '../core/requests';
import type { RequestPlan } from '../workflows/request-plan';
import { type ApiPolicy, isAdmin, isAuditor } from './authorization';
import { type Caller, principalArnOf } from './caller';
import { type HttpResult, json } from './http';

/**
 * What the API needs for requests under an approval policy. `onApproved` is the seam to activation: the API calls it
 * exactly once per approved request, from the call whose conditional write made it APPROVED (an auto-approved
 * creation, or the approval that reached the threshold), after that write. If it fails the request stays APPROVED:
 * whatever starts activations must also find APPROVED requests nobody started (the sweeper).
 */
export interface AccessRequestDeps {
  store: AccessRequestStore;
  now: () => Date;
  onApproved: (request: AccessRequest) => Promise<void>;
  /** Called by the write that made a request ENDING (a revoke): starts its end run (the sweeper starts one that was lost). */
  onEnding: (request: AccessRequest) => Promise<void>;
  /** Called after the write that made a request pending, denied or cancelled: publishes it (the rest are published by the lifecycle's functions). */
  onChanged?: (request: AccessRequest, event: ApiLifecycleEvent) => Promise<void>;
  /** The caller's IAM Identity Center group ids, for approverGroups; absent: nobody is an approver by group. */
  groupsOf?: (caller: Caller) => Promise<string[]>;
}

/** Fields of POST /access-requests that only a request under an approval policy has. */
export const ACCESS_FIELDS = ['duration', 'startAt', 'ticket'] as const;
export type AccessFields = Partial<Record<(typeof ACCESS_FIELDS)[number], unknown>>;

/** Takes the policy-only fields out of a body, so the onboarding's own (strict) validation never sees them. */
export const takeAccessFields = (body: Record<string, unknown>): { rest: Record<string, unknown>; access: AccessFields } => {
  const rest = { ...body };
  const access: AccessFields = {};
  for (const f of ACCESS_FIELDS) {
    if (Object.hasOwn(rest, f)) access[f] = rest[f];
    delete rest[f];
  }
  return { rest, access };
};

/** Without a policy a request is granted at once until revoked, as before policies: a duration or start would be a promise nobody keeps. */
export const refuseWithoutPolicy = (access: AccessFields, target: string): void => {
  const given = ACCESS_FIELDS.find((f) => access[f] !== undefined);
  if (given)
    throw invalid(
      given,
      `no approval policy (approvalPolicies) matches this request on target "${target}": ` +
        `such a request is granted at once and until revoked, so ${given} is not accepted`,
    );
};

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

const startAtOf = (value: unknown, now: Date): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ISO_INSTANT.test(value) || Number.isNaN(Date.parse(value)))
    throw invalid('startAt', `must be an ISO 8601 date and time with its offset (e.g. 2026-12-24T08:00:00Z), not ${JSON.stringify(value)}`);
  if (Date.parse(value) <= now.getTime()) throw invalid('startAt', `${value} is not in the future; leave startAt out to start as soon as it is approved`);
  return new Date(value).toISOString();
};

const ticketOf = (value: unknown): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,199}$/.test(value))
    throw invalid('ticket', 'must be 1-200 printable ASCII characters (a ticket or change reference, e.g. CHG-1234)');
  return value;
};

export const partyOf = async (caller: Caller, deps: AccessRequestDeps): Promise<Party> => ({
  arn: caller.arn,
  principal: principalArnOf(caller),
  ...(deps.groupsOf ? { groups: await deps.groupsOf(caller) } : {}),
});

const storeOf = (deps: AccessRequestDeps | undefined): AccessRequestDeps => {
  if (!deps)
    throw new ProvisioningError(
      'ConfigurationError',
      'approvalPolicies are configured but the API has no access-request store (ACCESS_REQUESTS_TABLE is not set)',
    );
  return deps;
};

/**
 * What follows a write the API won (start the activation, start the end, publish): its failure is logged and the
 * write stands; the sweeper finds what was not started.
 */
const afterWrite = async (what: string, r: AccessRequest, fn: () => Promise<void>): Promise<void> => {
  try {
    await fn();
  } catch (e) {
    logger.error(what, { requestId: r.requestId, state: r.state, error: (e as Error).name, errorMessage: (e as Error).message });
  }
};

/** The activation seam, for the one write that approved. */
const approved = (deps: AccessRequestDeps, r: AccessRequest): Promise<void> =>
  afterWrite('access request approved, but starting what follows failed: it stays APPROVED for the sweeper', r, () => deps.onApproved(r));

/** The changes only the API makes, and so publishes (through the lifecycle's function: access/notify.ts). */
export type ApiLifecycleEvent = 'pending' | 'denied' | 'cancelled';

/** Publishes a change the API made: a notification that fails is never a failed decision. */
const changed = (deps: AccessRequestDeps, r: AccessRequest, event: ApiLifecycleEvent): Promise<void> =>
  afterWrite(`access request ${event}, but publishing it failed`, r, async () => deps.onChanged?.(r, event));

/** Starts the end the revoke's write asked for. */
const ending = (deps: AccessRequestDeps, r: AccessRequest): Promise<void> =>
  afterWrite('access request revoked, but starting its end failed: it stays ENDING for the sweeper', r, () => deps.onEnding(r));

/** What a request under a policy answers (and its dry run shows): which policy, how many approvals, by when, which plan. */
const approvalAnswer = (r: AccessRequest) => ({
  requestId: r.requestId,
  kind: 'access-request' as const,
  status: r.state,
  policy: r.policy,
  approvalsRequired: r.state === 'APPROVED' ? 0 : r.required,
  approvalExpiresAt: r.approvalExpiresAt,
  planHash: r.planHash,
  duration: r.duration,
  ...(r.startAt !== undefined ? { startAt: r.startAt } : {}),
  location: `/access-requests/${encodeURIComponent(r.requestId)}`,
});

/** Whether a stored request is the one a replay asks for: the same plan, by the same requester, with the same terms. */
const sameRequest = (a: AccessRequest, b: AccessRequest): boolean =>
  a.planHash === b.planHash &&
  a.policy === b.policy &&
  a.reason === b.reason &&
  a.ticket === b.ticket &&
  a.startAt === b.startAt &&
  (a.requestedBy === b.requestedBy || (a.requester !== undefined && sameRoleOrUser(a.requester, b.requester)));

/**
 * POST /access-requests when a policy matches: the plan the dry run computes (the same planners), its hash, and a
 * record PENDING_APPROVAL (or APPROVED when the policy approves it by itself). Nothing is granted here.
 */
export const submitAccessRequest = async (
  deps: { accessRequests?: AccessRequestDeps; executions: ExecutionsDeps },
  s: {
    caller: Caller;
    matched: MatchedPolicy;
    /** The onboarding's execution input, as validated: stored, so activation runs exactly the request made. */
    input: Record<string, unknown> & { requestId: string; principalArn: string; dbRoles: string[]; databases: string[]; reason?: string };
    access: AccessFields;
    plan: () => Promise<RequestPlan>;
    dryRun: boolean;
    /** The request this one extends (POST .../extend): recorded, and its chain's start carried on. */
    extending?: Extending;
  },
): Promise<HttpResult> => {
  const access = storeOf(deps.accessRequests);
  const now = access.now();
  const terms = checkAgainstPolicy(s.matched, { duration: s.access.duration, reason: s.input.reason, dbRoles: s.input.dbRoles });
  const startAt = startAtOf(s.access.startAt, now);
  const ticket = ticketOf(s.access.ticket);
  const plan = await s.plan();
  const grant = grantPlanOf(plan, { ...s.input, durationMs: terms.durationMs });
  const created = newAccessRequest(
    {
      requestId: s.input.requestId,
      policy: s.matched.policy.name,
      plan: grant,
      planHash: planHashOf(grant),
      duration: terms.duration,
      requestedBy: s.caller.arn,
      ...(principalArnOf(s.caller) ? { requester: principalArnOf(s.caller) } : {}),
      subject: s.input.principalArn,
      onboarding: s.input,
      ...(s.extending
        ? {
            extendsRequest: s.extending.requestId,
            chainStartedAt: s.extending.chainStartedAt,
            chainDurationMs: s.extending.chainDurationMs,
            extendsFrom: s.extending.extendsFrom,
          }
        : {}),
      ...(s.input.reason !== undefined ? { reason: s.input.reason } : {}),
      ...(ticket !== undefined ? { ticket } : {}),
      ...(startAt !== undefined ? { startAt } : {}),
    },
    s.matched.policy,
    { now, autoApproved: terms.autoApproved },
  );
  if (s.dryRun) return json(200, { ...plan, accessRequest: approvalAnswer(created.next) });

  // A replay is answered from the store first: executions the request runs later must not make it a conflict.
  const before = await access.store.get(s.input.requestId);
  // Activation will run executions named after the request: an id an execution already has would collide there.
  if (!before && (await findRequest(deps.executions, s.input.requestId)))
    throw new ProvisioningError('RequestConflict', `request id "${s.input.requestId}" is already the id of a request that ran; choose another id`, {
      details: { requestId: s.input.requestId },
    });
  const w = before ? { won: false as const, current: before } : await access.store.write(created);
  if (!w.won) {
    const existing = w.current;
    if (existing && sameRequest(existing, created.next)) return json(200, { ...approvalAnswer(existing), status: effectiveState(existing, now) });
    throw new ProvisioningError('RequestConflict', `request id "${s.input.requestId}" is taken by a different access request; choose another id`, {
      details: { requestId: s.input.requestId },
    });
  }
  logger.info('access request stored', { requestId: s.input.requestId, state: created.next.state, policy: s.matched.policy.name, requestedBy: s.caller.arn });
  if (created.approved) await approved(access, created.next);
  else await changed(access, created.next, 'pending');
  const answer = approvalAnswer(created.next);
  return json(202, answer, { location: answer.location });
};

/** Conditional writes lost in a row before a decision gives up (each loss means another decision was written). */
const MAX_WRITE_ATTEMPTS = 5;

const notFound = (requestId: string): ProvisioningError =>
  new ProvisioningError('RequestNotFound', `no access request "${requestId}" that you may read`, { details: { requestId } });

/**
 * Who may read an access request: administrators and auditors; its requester and its subject; and whoever may
 * decide it under its policy now. Anyone else gets the 404 of an unknown id.
 */
const mayRead = (r: AccessRequest, caller: Caller, party: Party, config: Config, policy: ApiPolicy): boolean => {
  if (isAdmin(caller, policy) || isAuditor(caller, policy)) return true;
  const own = [r.requester, r.subject];
  if (party.principal !== undefined && own.some((p) => p !== undefined && sameRoleOrUser(p, party.principal))) return true;
  if (r.requestedBy === caller.arn) return true;
  const p = policyNamed(config, r.policy);
  return p !== undefined && isApprover(p, party);
};

export interface DecisionDeps {
  config: Config;
  api: ApiPolicy;
  access: AccessRequestDeps;
}

/**
 * Reads the request, decides the action on it (lifecycle.ts), and writes the result under the version read. A lost
 * write means another decision was written first: the action is decided again against that, so a vote that arrives
 * after the request was approved is refused (409), never counted into a second approval.
 */
const decideAndWrite = async (d: DecisionDeps, caller: Caller, requestId: string, actionOf: (party: Party) => Action): Promise<AccessRequest> => {
  const party = await partyOf(caller, d.access);
  for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
    const r = await d.access.store.get(requestId);
    if (!r || !mayRead(r, caller, party, d.config, d.api)) throw notFound(requestId);
    const t = decide(r, actionOf(party), { now: d.access.now(), policy: policyNamed(d.config, r.policy) });
    const w = await d.access.store.write(t);
    if (!w.won) continue;
    logger.info('access request changed', { requestId, from: r.state, to: t.next.state, by: caller.arn });
    if (t.approved) await approved(d.access, t.next);
    if (t.next.state !== r.state && (t.next.state === 'DENIED' || t.next.state === 'CANCELLED'))
      await changed(d.access, t.next, t.next.state === 'DENIED' ? 'denied' : 'cancelled');
    return t.next;
  }
  throw new ProvisioningError(
    'AccessRequestBusy',
    `access request "${requestId}" changed ${MAX_WRITE_ATTEMPTS} times while this decision was made; send it again`,
    {
      details: { requestId },
    },
  );
};

const schemas = () => ({
  approve: z.object({ planHash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be the planHash of the request (sha256:...)') }).strict(),
  deny: z.object({ comment: z.string().trim().min(1, 'is required: say why').max(1000) }).strict(),
  cancel: z.object({ comment: z.string().max(1000).optional() }).strict(),
});
let built: ReturnType<typeof schemas> | undefined;

export type Decision = 'approve' | 'deny' | 'cancel' | 'revoke';

/** POST /access-requests/{requestId}/approve | deny | cancel | revoke. */
export const decideRoute = async (d: DecisionDeps, caller: Caller, requestId: string, decision: Decision, body: Record<string, unknown>) => {
  const s = (built ??= schemas());
  // The body is checked before the request is read: a malformed decision is a 400 whatever the request is.
  const admin = isAdmin(caller, d.api);
  let actionOf: (party: Party) => Action;
  if (decision === 'approve') {
    const { planHash } = parseWith(s.approve, body);
    actionOf = (by) => ({ kind: 'approve', by, planHash });
  } else if (decision === 'deny') {
    const { comment } = parseWith(s.deny, body);
    actionOf = (by) => ({ kind: 'deny', by, comment });
  } else {
    parseWith(s.cancel, body);
    actionOf = (by) => ({ kind: decision, by, admin });
  }
  const r = await decideAndWrite(d, caller, requestId, actionOf);
  if (decision === 'revoke' && r.state === 'ENDING') await ending(d.access, r);
  return json(200, accessRequestView(r, d.access.now()));
};

/** GET /access-requests/{requestId}: the request, its votes, deadlines and timeline. */
export const readRoute = async (d: DecisionDeps, caller: Caller, requestId: string) => {
  const r = await d.access.store.get(requestId);
  if (!r || !mayRead(r, caller, await partyOf(caller, d.access), d.config, d.api)) throw notFound(requestId);
  return json(200, accessRequestView(r, d.access.now()));
};

/** GET /approvals: the pending requests the caller could approve now; the same decision as approving, without the write. */
export const approvalsRoute = async (d: DecisionDeps, caller: Caller) => {
  const party = await partyOf(caller, d.access);
  const now = d.access.now();
  const open = (await d.access.store.list(['PENDING_APPROVAL'])).filter((r) => {
    try {
      decide(r, { kind: 'approve', by: party, planHash: r.planHash }, { now, policy: policyNamed(d.config, r.policy) });
      return true;
    } catch (e) {
      if (isProvisioningError(e)) return false;
      throw e;
    }
  });
  return json(200, { approvals: open.map((r) => accessRequestView(r, now)) });
};

/** Stored states a request in `status` (as a reader takes it) may have: a pending record past its deadline reads expired. */
const storedStatesOf = (status: RequestState): RequestState[] =>
  status === 'APPROVAL_EXPIRED' ? ['APPROVAL_EXPIRED', 'PENDING_APPROVAL'] : status === 'ENDING' ? ['ENDING', 'ACTIVE'] : [status];

/** GET /access-requests?status=&requester=&subject=&target=: what the caller may read, filtered. */
export const listRoute = async (d: DecisionDeps, caller: Caller, q: Partial<Record<'status' | 'requester' | 'subject' | 'target', string>>) => {
  if (q.status !== undefined && !(REQUEST_STATES as readonly string[]).includes(q.status))
    throw invalid('status', `must be one of ${REQUEST_STATES.join(', ')}, not ${JSON.stringify(q.status)}`);
  const status = q.status as RequestState | undefined;
  const party = await partyOf(caller, d.access);
  const now = d.access.now();
  const matchesParty = (arn: string | undefined, principal: string | undefined, wanted: string) =>
    arn === wanted || (principal !== undefined && sameRoleOrUser(principal, wanted));
  const found = (await d.access.store.list(status ? storedStatesOf(status) : [])).filter(
    (r) =>
      (status === undefined || effectiveState(r, now) === status) &&
      (q.requester === undefined || matchesParty(r.requestedBy, r.requester, q.requester)) &&
      (q.subject === undefined || matchesParty(undefined, r.subject, q.subject)) &&
      (q.target === undefined || r.plan.target === q.target) &&
      mayRead(r, caller, party, d.config, d.api),
  );
  return json(200, { accessRequests: found.map((r) => accessRequestView(r, now)) });
};

/** The grant an extension continues: its request id and when the chain of grants it belongs to started. */
export interface Extending {
  requestId: string;
  chainStartedAt: string;
  /** The first grant's duration and every extension's, this one's included: what maxTotalDuration caps. */
  chainDurationMs: number;
  /** The extended grant's expiresAt: the extension's duration counts from there (it extends, it does not overlap). */
  extendsFrom: string;
}

export const extensionWithoutPolicy = (e: Extending): ProvisioningError =>
  new ProvisioningError('RequestStateConflict', `access request "${e.requestId}" no longer matches an approval policy: it cannot be extended`, {
    details: { requestId: e.requestId },
  });

const extensionSchema = () => z.object({ duration: z.string(), reason: z.string().max(1000).optional(), requestId: z.string().optional() }).strict();

/**
 * POST /access-requests/{requestId}/extend: the body of a new request for the same grant (same plan but its
 * duration), which the same policy reviews. Only an active grant, by its requester, its subject or an administrator;
 * a grant and its extensions are granted at most the policy's maxTotalDuration (maxDuration without one) between
 * them: a longer duration is refused naming what is left.
 */
export const extensionOf = async (d: DecisionDeps, caller: Caller, requestId: string, raw: Record<string, unknown>) => {
  const body = parseWith(extensionSchema(), raw);
  const r = await d.access.store.get(requestId);
  const party = await partyOf(caller, d.access);
  if (!r || !mayRead(r, caller, party, d.config, d.api)) throw notFound(requestId);
  const now = d.access.now();
  const mine = [r.requester, r.subject].some((p) => p !== undefined && party.principal !== undefined && sameRoleOrUser(p, party.principal));
  if (!isAdmin(caller, d.api) && !mine && r.requestedBy !== caller.arn)
    throw new ProvisioningError(
      'NotAuthorized',
      `${caller.arn} may not extend access request "${requestId}": only its requester, its subject and administrators may`,
    );
  const state = effectiveState(r, now);
  if (state !== 'ACTIVE')
    throw new ProvisioningError('RequestStateConflict', `access request "${requestId}" is ${state}: only an ACTIVE grant can be extended`, {
      details: { requestId, state },
    });
  const policy = policyNamed(d.config, r.policy);
  if (!policy) throw extensionWithoutPolicy({ requestId, chainStartedAt: '', chainDurationMs: 0, extendsFrom: '' });
  const chainStartedAt = r.chainStartedAt ?? r.timeline.find((t) => t.event === 'activated')?.at ?? r.approvedAt ?? r.createdAt;
  const total = policy.maxTotalDuration ?? policy.maxDuration;
  // What the chain (the first grant and its extensions) was granted so far: each extension adds its duration.
  const used = r.chainDurationMs ?? durationMs(r.duration);
  const left = durationMs(total) - used;
  const parsed = parseDuration(body.duration);
  if ('problem' in parsed) throw invalid('duration', parsed.problem);
  if (parsed.ms > left)
    throw invalid(
      'duration',
      `${body.duration} is longer than what approval policy "${policy.name}" leaves this ` +
        `grant: ${left > 0 ? formatDuration(left) : 'nothing'} of ` +
        `its ${policy.maxTotalDuration ? 'maxTotalDuration' : 'maxDuration'} ${total} (granted so ` +
        `far: ${formatDuration(used)})`,
    );
  const ext = r.timeline.length;
  return {
    extending: { requestId, chainStartedAt, chainDurationMs: used + parsed.ms, extendsFrom: r.expiresAt as string },
    body: {
      requestId: body.requestId ?? `${requestId.slice(0, 70)}-ext${ext}`,
      principalArn: r.plan.principalArn,
      dbUser: r.plan.dbUser,
      target: r.plan.target,
      dbRoles: r.plan.dbRoles,
      databases: r.plan.databases,
      duration: body.duration,
      ...((body.reason ?? r.reason) ? { reason: body.reason ?? r.reason } : {}),
      ...(r.ticket ? { ticket: r.ticket } : {}),
    } as Record<string, unknown>,
  };
};
