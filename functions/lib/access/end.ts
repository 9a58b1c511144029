import type { GrantEndProof } from '../postgres/grant-end';
import type { ConnectCheck } from '../iam/verify';
import type { LifecycleDeps } from './activation';
import { type EndState, endStateOf } from './end-target';
import { bestEffort, transition } from './records';
import type { EndReason } from './lifecycle';
import { notify } from './notify';
import { deleteSchedule } from './schedules';

/** The proof an end records: what the database and IAM say after it, not what was meant. */
export interface EndProof {
  database: GrantEndProof;
  iam: { statementRemoved: boolean; check?: ConnectCheck };
  recordedAt: string;
}

const END_FROM = new Set(['ACTIVE', 'END_FAILED', 'ACTIVATION_FAILED', 'ENDING']);

/**
 * BeginEnd: the request is ENDING (the first reason stays: expiry, revoke and identity removal start this one
 * execution), and what to take is planned against the user's other live grants now. An ended request, or one that
 * never gave access, ends nothing (the run succeeds with skip).
 */
export const beginEnd = async (
  deps: LifecycleDeps,
  requestId: string,
  reason: EndReason,
): Promise<{ skip: true; state: string } | ({ skip: false } & EndState)> => {
  const { request } = await transition(deps, requestId, (r) => (r.state !== 'ENDING' && END_FROM.has(r.state) ? { kind: 'start-end', reason } : undefined));
  if (request.state !== 'ENDING') return { skip: true, state: request.state };
  return { skip: false, ...(await endStateOf(deps, request)) };
};

/** RecordEnded: ENDED with its proof, the schedules that would act on it again deleted, and who must know told. */
export const recordEnded = async (deps: LifecycleDeps, requestId: string, proof: Omit<EndProof, 'recordedAt'>) => {
  const recorded: EndProof = { ...proof, recordedAt: deps.now().toISOString() };
  const { request, written } = await transition(deps, requestId, (r) => (r.state === 'ENDING' ? { kind: 'ended', proof: recorded } : undefined));
  await deleteSchedule(deps.schedules, requestId, 'end');
  if (written) await bestEffort(() => notify(deps.notify, 'ended', request));
  return { state: request.state, proof: request.proof };
};

/** RecordEndFailed: END_FAILED with the error (alarmed; the sweeper runs the end again), never a bare failure. */
export const recordEndFailed = async (deps: LifecycleDeps, requestId: string, error: { code: string; message: string }) => {
  const { request, written } = await transition(deps, requestId, (r) => (r.state === 'ENDING' ? { kind: 'end-failed', error } : undefined));
  if (written) await bestEffort(() => notify(deps.notify, 'endFailed', request));
  return { state: request.state };
};
