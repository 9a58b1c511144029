import { sameRoleOrUser } from '../core/arn';
import { type Config, resolveTargetConfig } from '../core/config';
import { invalid } from '../core/errors';
import { ddl } from '../postgres/ddl';
import type { ResolvedTarget } from '../rds/target';
import type { HeldBefore } from '../workflows/grant-end-plan';
import { type AccessRequest, endExecutionName, grantWasStarted } from './lifecycle';
import { type NotifyDeps, notify } from './notify';
import { planHashOf } from './plan-hash';
import { isApprover, policyNamed } from './policies';
import { createSchedule, type ScheduleDeps } from './schedules';
import { activationExecutionName } from './start';
import { bestEffort, grantsThatMayHaveGivenAccess, type RecordDeps, readRequest, transition } from './records';

/** What the activation and end steps share: the store, the clock, and where they report. */
export interface LifecycleDeps extends RecordDeps {
  notify: NotifyDeps;
  schedules: ScheduleDeps;
  machines: { activate: string; end: string };
  /** Starts an execution of this stack (StartExecution; a name already used is not an error). */
  startExecution: (machineArn: string, name: string, input: Record<string, unknown>) => Promise<void>;
}

/** Approvals that still count: by a party that is an approver of the policy now (eligibility again at activation). */
const countingApprovals = (r: AccessRequest, config: Config): number => {
  const policy = policyNamed(config, r.policy);
  if (!policy) return 0;
  // Group votes cannot be checked again without the voter's groups: they count as they were decided.
  return r.votes.filter((v) => v.decision === 'approve' && !v.voided && (v.viaGroup || isApprover(policy, { arn: v.by, principal: v.principal }))).length;
};

/**
 * BeginActivation: the request's plan computed again from what RDS says now (the resource id the statement would
 * name), compared with the one the approvers approved, and their approvals checked against the policy as it is now.
 * A changed plan or an approval that no longer counts makes the request ACTIVATION_FAILED (PLAN_INVALID) and nothing
 * is granted. Returns the onboarding to run, or undefined when there is nothing to activate.
 */
export const beginActivation = async (deps: LifecycleDeps, requestId: string, resolved: ResolvedTarget) => {
  const now = deps.now();
  const before = await readRequest(deps.store, requestId);
  // Long waits are schedules: a start in the future is scheduled, and this run ends.
  if (before.state === 'APPROVED' && before.startAt !== undefined && Date.parse(before.startAt) > now.getTime()) {
    const scheduled = await scheduleActivation(deps, before);
    return { activate: false as const, state: scheduled.state, startAt: before.startAt };
  }
  // The target comes from the execution's input: only the request's own target is checked against its plan.
  const target = resolveTargetConfig(deps.config, before.plan.target);
  if (resolved.identifier !== target.identifier || resolved.kind !== target.kind || resolved.region !== target.region)
    throw invalid('db', `names ${resolved.kind} ${resolved.identifier}, not target "${target.name}" of access request "${requestId}"`);
  const planHash = planHashOf({ ...before.plan, resourceId: resolved.resourceId });
  // An auto-approved request has no votes to count again: its policy approved it (and is checked: it must still exist).
  const autoApproved = before.timeline.some((t) => t.event === 'auto-approved');
  const approvalsVoid = autoApproved
    ? policyNamed(deps.config, before.policy)?.autoApprove === undefined
    : before.required > 0 && countingApprovals(before, deps.config) < before.required;
  const { request } = await transition(deps, requestId, (r) =>
    r.state === 'APPROVED' || r.state === 'SCHEDULED'
      ? { kind: 'start-activation', planHash, ...(approvalsVoid ? { void: 'its approvals no longer count: an approver is no longer one' } : {}) }
      : undefined,
  );
  if (request.state === 'ACTIVATION_FAILED') {
    await bestEffort(() => notify(deps.notify, 'activationFailed', request));
    return { activate: false as const, state: request.state, reason: approvalsVoid ? 'approvals no longer count' : 'plan changed', at: now.toISOString() };
  }
  if (request.state !== 'ACTIVATING') return { activate: false as const, state: request.state };
  await bestEffort(() => notify(deps.notify, 'approved', request));
  return { activate: true as const, state: request.state, onboarding: onboardingOf(request) };
};

/** The onboarding the activation runs: the one the request would have run without a policy, under the same id. */
export const onboardingOf = (r: AccessRequest): Record<string, unknown> => ({
  ...(r.onboarding ?? {}),
  requestId: r.requestId,
  principalArn: r.plan.principalArn,
  dbUser: r.plan.dbUser,
  target: r.plan.target,
  dbRoles: r.plan.dbRoles,
  databases: r.plan.databases,
  requestedBy: r.requestedBy,
});

/** What the onboarding's output (its Done state) says it changed: CreateDbUser's statements, AllowConnect's outcome. */
export interface OnboardingOutput {
  dbUserOutcome?: string;
  statements?: string[];
  policyOutcome?: string;
  /** The database user exists because of this request (also when CreateDbUser was retried after its commit). */
  dbUserCreatedByThisRequest?: boolean;
}

/**
 * What the user held before this grant that no other grant accounts for: the roles and databases the request asked
 * for that the onboarding did not have to grant, less those another live grant of the same user gave. Fails closed:
 * what cannot be told from the output counts as given by this grant.
 */
export const heldBeforeOf = (r: AccessRequest, output: OnboardingOutput, others: readonly AccessRequest[]): HeldBefore => {
  // CreateDbUser reports each statement by its purpose (ddl.ts), which is what is compared here.
  const purposes = output.statements ?? [];
  const granted = (what: string) => purposes.some((p) => p === what);
  const byOthers = new Set(others.flatMap((g) => g.plan.dbRoles));
  const dbsByOthers = new Set(others.flatMap((g) => g.plan.databases));
  // A retried CreateDbUser reports "already present" for the user it created: its record (the role comment) says whose.
  const created = output.dbUserOutcome === 'created' || output.dbUserCreatedByThisRequest === true;
  return {
    dbRoles: created ? [] : r.plan.dbRoles.filter((role) => !granted(ddl.grantRole(role, r.plan.dbUser).purpose) && !byOthers.has(role)),
    databases: created ? [] : r.plan.databases.filter((db) => !granted(ddl.grantConnect(db, r.plan.dbUser).purpose) && !dbsByOthers.has(db)),
    canLogin: !created && !granted(ddl.enableLogin(r.plan.dbUser).purpose) && others.length === 0,
    connectStatement: output.policyOutcome === 'already present' && !others.some((g) => sameRoleOrUser(g.plan.principalArn, r.plan.principalArn)),
  };
};

/**
 * RecordActive: ACTIVE with its expiresAt (written once) and what was held before, then the schedules of its end and
 * of the reminder. A revoke that arrived while the grant was being made (endRequested) starts the end at once.
 */
export const recordActive = async (deps: LifecycleDeps, requestId: string, output: OnboardingOutput) => {
  const current = await readRequest(deps.store, requestId);
  // Every other grant of the user that may have given what the onboarding found there, live or not (one ended while
  // this one was being made still explains what was found): none of it counts as the user's own.
  const others = await grantsThatMayHaveGivenAccess(deps.store, current);
  const { request } = await transition(deps, requestId, (r) =>
    r.state === 'ACTIVATING' ? { kind: 'activated', heldBefore: heldBeforeOf(r, output, others) } : undefined,
  );
  if (request.state !== 'ACTIVE' || !request.expiresAt) return { state: request.state };
  const expiresAt = new Date(request.expiresAt);
  const endInput = { requestId, reason: 'EXPIRED' };
  await createSchedule(deps.schedules, {
    purpose: 'end',
    requestId,
    at: expiresAt,
    machineArn: deps.machines.end,
    executionName: endExecutionName(request),
    input: endInput,
  });
  await bestEffort(() => notify(deps.notify, 'activated', request));
  if (request.endRequested) await deps.startExecution(deps.machines.end, endExecutionName(request), { requestId, reason: request.endRequested });
  return { state: request.state, expiresAt: request.expiresAt };
};

/** RecordActivationFailed: the failure recorded, then the end run (what a half-made grant gave is taken back). */
export const recordActivationFailed = async (deps: LifecycleDeps, requestId: string, error: { code: string; message: string }) => {
  const { request } = await transition(deps, requestId, (r) =>
    ['ACTIVATING', 'APPROVED', 'SCHEDULED'].includes(r.state) ? { kind: 'activation-failed', error } : undefined,
  );
  if (request.state === 'ACTIVATION_FAILED') await bestEffort(() => notify(deps.notify, 'activationFailed', request));
  // A failure before the grant began (the target unreadable) gave nothing: no end, which would take standing access.
  if (grantWasStarted(request)) await deps.startExecution(deps.machines.end, endExecutionName(request), { requestId, reason: 'ACTIVATION_FAILED' });
  return { state: request.state };
};

/**
 * Whoever finds an approved request nobody started (the sweeper), or a scheduled one past its startAt, starts its
 * activation under the name that run has (activationExecutionName): a second start of the same run is a no-op.
 */
export const startActivation = async (deps: LifecycleDeps, r: AccessRequest): Promise<void> =>
  deps.startExecution(deps.machines.activate, activationExecutionName(r), { requestId: r.requestId, target: r.plan.target });

/** A start in the future: SCHEDULED, and a one-time schedule at startAt that starts the activation's second run. */
const scheduleActivation = async (deps: LifecycleDeps, r: AccessRequest) => {
  const { request } = await transition(deps, r.requestId, (x) => (x.state === 'APPROVED' ? { kind: 'schedule' } : undefined));
  if (request.state !== 'SCHEDULED') return request;
  await createSchedule(deps.schedules, {
    purpose: 'activate',
    requestId: r.requestId,
    at: new Date(r.startAt as string),
    machineArn: deps.machines.activate,
    executionName: activationExecutionName(request),
    input: { requestId: r.requestId, target: r.plan.target },
  });
  return request;
};
