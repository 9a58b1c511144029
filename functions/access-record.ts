import { beginActivation, recordActivationFailed, recordActive } from './lib/access/activation';
import { lifecycleDepsFromEnv } from './lib/access/deps';
import { beginEnd, recordEnded, recordEndFailed } from './lib/access/end';
import { END_REASONS, type EndReason } from './lib/access/lifecycle';
import { invalid } from './lib/core/errors';
import { stepHandler } from './lib/core/logger';
import { notify } from './lib/access/notify';
import { readRequest } from './lib/access/records';

/** What the API asks to be published (functions/lib/api/access-requests.ts ApiLifecycleEvent). */
const API_EVENTS = ['pending', 'denied', 'cancelled'] as const;
import type { ResolvedTarget } from './lib/rds/target';

/** The record steps of the activate and end state machines: every write of the request's lifecycle made by a run. */
type RecordInput =
  | { step: 'BeginActivation'; requestId: string; db: ResolvedTarget }
  | { step: 'RecordActive'; requestId: string; output: Record<string, unknown> }
  | { step: 'RecordActivationFailed' | 'RecordEndFailed'; requestId: string; error?: { Error?: string; Cause?: string } }
  | { step: 'BeginEnd'; requestId: string; reason?: string }
  | { step: 'RecordEnded'; requestId: string; database: never; iam: never }
  | { step: 'Notify'; requestId: string; event?: string };

/** What a Catch gives (Error, Cause): the code and its message, for the record and its notification. */
const errorOf = (e: { Error?: string; Cause?: string } | undefined): { code: string; message: string } => {
  let message = e?.Cause ?? '';
  try {
    const parsed = JSON.parse(message) as { errorMessage?: string; Cause?: string };
    message = parsed.errorMessage ?? parsed.Cause ?? message;
  } catch {
    // A plain-text cause is the message.
  }
  return { code: e?.Error ?? 'Unknown', message: message.slice(0, 1000) };
};

const reasonOf = (reason: unknown): EndReason => {
  if (typeof reason === 'string' && (END_REASONS as readonly string[]).includes(reason)) return reason as EndReason;
  throw invalid('reason', `must be one of ${END_REASONS.join(', ')}`);
};

const requestIdOf = (id: unknown): string => {
  if (typeof id !== 'string' || id.length === 0) throw invalid('requestId', 'is required');
  return id;
};

export const handler = stepHandler('AccessRecord', async (input: RecordInput) => {
  const deps = lifecycleDepsFromEnv();
  const requestId = requestIdOf(input.requestId);
  switch (input.step) {
    case 'BeginActivation':
      return beginActivation(deps, requestId, input.db);
    case 'RecordActive':
      return recordActive(deps, requestId, input.output);
    case 'RecordActivationFailed':
      return recordActivationFailed(deps, requestId, errorOf(input.error));
    case 'BeginEnd':
      return beginEnd(deps, requestId, reasonOf(input.reason));
    case 'RecordEnded':
      return recordEnded(deps, requestId, { database: input.database, iam: input.iam });
    case 'RecordEndFailed':
      return recordEndFailed(deps, requestId, errorOf(input.error));
    case 'Notify': {
      // The API's own changes (it carries no EventBridge or SNS client): published from the record as it is now.
      const event = API_EVENTS.find((e) => e === input.event);
      if (!event) throw invalid('event', `must be one of ${API_EVENTS.join(', ')}`);
      const r = await readRequest(deps.store, requestId);
      await notify(deps.notify, event, r);
      return { published: event, state: r.state };
    }
    default:
      throw invalid('step', 'must be one of BeginActivation, RecordActive, RecordActivationFailed, BeginEnd, RecordEnded, RecordEndFailed, Notify');
  }
});
