import type { HistoryEvent, HistoryEventType } from '@aws-sdk/client-sfn';
import type { ExecutionRecord } from './asl-runner';

/**
 * The interpreter's event log of one execution as Step Functions' GetExecutionHistory reports it
 * (the events a Lambda-backed Task produces: TaskStateEntered, LambdaFunctionScheduled/Started,
 * LambdaFunctionSucceeded/Failed per attempt, TaskStateExited), so the audit code reads local and
 * deployed histories alike.
 */
type LogEvent = ExecutionRecord['events'][number];
type StateEvent = Extract<LogEvent, { state: unknown }>;

const json = (v: unknown): string => JSON.stringify(v ?? null);
const causeText = (cause: unknown): string => (typeof cause === 'string' ? cause : json(cause));

export const toHistoryEvents = (record: ExecutionRecord, resourceOf: (state: string) => string | undefined): HistoryEvent[] => {
  const out: HistoryEvent[] = [];
  const push = (timestamp: number, type: HistoryEventType, details: Partial<HistoryEvent> = {}): void => {
    out.push({ id: out.length + 1, previousEventId: out.length, timestamp: new Date(timestamp), type, ...details });
  };
  const outputs = [...record.taskOutputs];
  const nextOutput = (state: string): unknown => {
    const i = outputs.findIndex((o) => o.state === state);
    return i < 0 ? undefined : outputs.splice(i, 1)[0].output;
  };
  const failedLast = new Set<string>();
  const schedule = (t: number, state: string, input: unknown): void => {
    push(t, 'LambdaFunctionScheduled', { lambdaFunctionScheduledEventDetails: { resource: resourceOf(state), input: json(input) } });
    push(t, 'LambdaFunctionStarted');
  };

  for (const e of record.events) {
    const t = e.timestamp;
    const s = (e as Partial<StateEvent>).state;
    const isTask = s?.type === 'Task';
    switch (e.type) {
      case 'ExecutionStarted':
        push(t, 'ExecutionStarted', { executionStartedEventDetails: { input: json(e.input) } });
        break;
      case 'StateEntered':
        push(t, `${s?.type}StateEntered` as HistoryEventType, { stateEnteredEventDetails: { name: s?.name, input: json(s?.input) } });
        if (isTask && s) schedule(t, s.name, s.input);
        break;
      case 'StateRetried':
        if (s) {
          failedLast.delete(s.name);
          schedule(t, s.name, s.input);
        }
        break;
      case 'StateFailed':
        if (isTask && s) {
          failedLast.add(s.name);
          push(t, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error: e.Error, cause: causeText(e.Cause) } });
        }
        break;
      case 'StateExited':
        if (isTask && s && !failedLast.has(s.name))
          push(t, 'LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: { output: json(nextOutput(s.name)) } });
        if (s) failedLast.delete(s.name);
        push(t, `${s?.type}StateExited` as HistoryEventType, { stateExitedEventDetails: { name: s?.name, output: json(s?.output) } });
        break;
      case 'ExecutionSucceeded':
        push(t, 'ExecutionSucceeded', { executionSucceededEventDetails: { output: json(e.output) } });
        break;
      case 'ExecutionFailed':
        push(t, 'ExecutionFailed', { executionFailedEventDetails: { error: record.error ?? e.Error, cause: record.cause ?? causeText(e.Cause) } });
        break;
      case 'ExecutionAborted':
        push(t, 'ExecutionAborted');
        break;
      case 'ExecutionTimeout':
        push(t, 'ExecutionTimedOut');
        break;
      default:
        // Map and Parallel events: neither workflow has such states.
        break;
    }
  }
  return out;
};
