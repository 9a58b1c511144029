import { type LifecycleDeps, recordActivationFailed, startActivation } from './activation';
import { transition } from './records';
import { type AccessRequest, endExecutionName, grantWasStarted } from './lifecycle';
import { notify } from './notify';

/** How long before expiresAt the approvers are told that a grant ends. */
export const REMINDER_MS = 15 * 60_000;

const passed = (deadline: string | undefined, now: Date): boolean => deadline !== undefined && Date.parse(deadline) <= now.getTime();

/** Longer than any activation runs (the onboarding's own retries, IAM auth turned on at the next poll). */
export const STUCK_ACTIVATION_MS = 60 * 60_000;
/** Longer than any end runs (the database step's and the IAM step's retries, at their caps). */
export const STUCK_END_MS = 30 * 60_000;

/** Whether nothing was written to the request for `ms`: its run is gone (a live run writes at its next step). */
const quietFor = (r: AccessRequest, now: Date, ms: number): boolean => {
  const last = r.timeline.at(-1)?.at ?? r.createdAt;
  return now.getTime() - Date.parse(last) >= ms;
};

export interface SweepResult {
  activationsLost: string[];
  endsLost: string[];
  approvalsExpired: string[];
  activationsStarted: string[];
  endsStarted: string[];
  endsRunAgain: string[];
  reminded: string[];
}

/**
 * The sweeper (every few minutes): what a lost schedule, a failed start or a failed end left. Deadlines are the
 * records' own, so nothing here decides one: it expires pending requests past approvalExpiresAt, starts activations
 * nobody started (or whose schedule was lost), starts the end of grants past expiresAt, runs failed ends again, and
 * tells approvers of grants ending within REMINDER_MS (once). Every start is named, so a sweep racing a schedule or
 * another sweep starts each execution once.
 */
export const sweep = async (deps: LifecycleDeps): Promise<SweepResult> => {
  const now = deps.now();
  const out: SweepResult = { activationsLost: [], endsLost: [], approvalsExpired: [], activationsStarted: [], endsStarted: [], endsRunAgain: [], reminded: [] };
  for (const r of await deps.store.list(['PENDING_APPROVAL'])) {
    if (!passed(r.approvalExpiresAt, now)) continue;
    const { request, written } = await transition(deps, r.requestId, (x) => (x.state === 'PENDING_APPROVAL' ? { kind: 'expire-approval' } : undefined));
    if (written) {
      out.approvalsExpired.push(r.requestId);
      await notify(deps.notify, 'approvalExpired', request);
    }
  }
  for (const r of await deps.store.list(['APPROVED', 'SCHEDULED'])) {
    if (r.state === 'SCHEDULED' && !passed(r.startAt, now)) continue;
    await startActivation(deps, r);
    out.activationsStarted.push(r.requestId);
  }
  for (const r of await deps.store.list(['ACTIVE'])) {
    if (passed(r.expiresAt, now)) {
      await deps.startExecution(deps.machines.end, endExecutionName(r), { requestId: r.requestId, reason: 'EXPIRED' });
      out.endsStarted.push(r.requestId);
    } else if (r.expiresAt && !r.remindedAt && Date.parse(r.expiresAt) - now.getTime() <= REMINDER_MS) {
      const { request, written } = await transition(deps, r.requestId, (x) => (x.state === 'ACTIVE' && !x.remindedAt ? { kind: 'remind' } : undefined));
      if (written) {
        out.reminded.push(r.requestId);
        await notify(deps.notify, 'expiring', request);
      }
    }
  }
  // Runs that died without a word (their failure step failed too, or they were stopped): a grant being made for longer
  // than any activation takes failed; an end running longer than any end takes is failed, and so run again below.
  for (const r of await deps.store.list(['ACTIVATING'])) {
    if (!quietFor(r, now, STUCK_ACTIVATION_MS)) continue;
    await recordActivationFailed(deps, r.requestId, {
      code: 'ActivationLost',
      message: `no activation step wrote for ${STUCK_ACTIVATION_MS / 60_000} minutes`,
    });
    out.activationsLost.push(r.requestId);
  }
  for (const r of await deps.store.list(['ENDING'])) {
    if (!quietFor(r, now, STUCK_END_MS)) continue;
    await transition(deps, r.requestId, (x) =>
      x.state === 'ENDING' && quietFor(x, now, STUCK_END_MS)
        ? { kind: 'end-failed', error: { code: 'EndLost', message: `no end step wrote for ${STUCK_END_MS / 60_000} minutes` } }
        : undefined,
    );
    out.endsLost.push(r.requestId);
  }
  // A failed activation whose end never started (what it may have given is taken back; a void plan gave nothing).
  for (const r of await deps.store.list(['ACTIVATION_FAILED'])) {
    if (r.endReason === 'PLAN_INVALID' || !grantWasStarted(r)) continue;
    await deps.startExecution(deps.machines.end, endExecutionName(r), { requestId: r.requestId, reason: 'ACTIVATION_FAILED' });
    out.endsStarted.push(r.requestId);
  }
  // ENDING: a revoke whose start of the end was lost (a running end makes this a no-op); END_FAILED: the next attempt.
  for (const r of await deps.store.list(['ENDING', 'END_FAILED'])) {
    await deps.startExecution(deps.machines.end, endExecutionName(r), { requestId: r.requestId, reason: r.endReason ?? 'EXPIRED' });
    out.endsRunAgain.push(r.requestId);
  }
  return out;
};
