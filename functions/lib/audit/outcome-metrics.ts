import { type ErrorCode, RETRYABLE_CODES } from '../core/errors';
import { METRIC, type MetricPoint } from '../core/metrics';
import type { AuditSummary } from './archive';

/**
 * What the end of one execution says, as metrics: the archive function sees the end of every run
 * (EventBridge's status change), so succeeded / failed / duration are counted there and nowhere else.
 * A run that failed with a code the state machines retry used up its retries: RetriesExhausted, with
 * the code and request as metadata, so one alarm (without per-code dimensions) covers every step.
 */
export const outcomeMetrics = (summary: AuditSummary): MetricPoint[] => {
  const dimensions = { kind: summary.kind, target: summary.target ?? 'unknown' };
  const metadata = { requestId: summary.requestId, status: summary.status };
  const points: MetricPoint[] = [];
  if (summary.status === 'SUCCEEDED') points.push({ name: METRIC.requestsSucceeded, unit: 'Count', value: 1, dimensions, metadata });
  else {
    // TIMED_OUT and ABORTED end without an error code of ours: the status is the code.
    const errorCode = summary.error?.code ?? summary.status;
    points.push({ name: METRIC.requestsFailed, unit: 'Count', value: 1, dimensions: { ...dimensions, errorCode }, metadata });
    if ((RETRYABLE_CODES as readonly string[]).includes(errorCode as ErrorCode)) {
      points.push({ name: METRIC.retriesExhausted, unit: 'Count', value: 1, metadata: { ...metadata, errorCode, kind: summary.kind } });
    }
  }
  if (summary.stoppedAt) {
    const ms = Date.parse(summary.stoppedAt) - Date.parse(summary.startedAt);
    if (Number.isFinite(ms) && ms >= 0) points.push({ name: METRIC.requestDuration, unit: 'Milliseconds', value: ms, dimensions, metadata });
  }
  return points;
};
