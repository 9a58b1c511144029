import { type LifecycleDeps, startActivation } from './activation';
import { transition } from './records';
import { endExecutionName } from './lifecycle';
import { notify } from './notify';

/** How long before expiresAt the approvers are told that a grant ends. */
export const REMINDER_MS = 15 * 60_000;

const passed = (deadline: string | undefined, now: Date): boolean => deadline !== undefined && Date.parse(deadline) <= now.getTime();

export interface SweepResult {
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
  const out: SweepResult = { approvalsExpired: [], activationsStarted: [], endsStarted: [], endsRunAgain: [], reminded: [] };
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
  // ENDING: a revoke whose start of the end was lost (a running end makes this a no-op); END_FAILED: the next attempt.
  for (const r of await deps.store.list(['ENDING', 'END_FAILED'])) {
    await deps.startExecution(deps.machines.end, endExecutionName(r), { requestId: r.requestId, reason: r.endReason ?? 'EXPIRED' });
    out.endsRunAgain.push(r.requestId);
  }
  return out;
};
