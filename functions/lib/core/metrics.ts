import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Business metrics as CloudWatch Embedded Metric Format, written by Powertools Metrics to stdout
 * (CloudWatch Logs turns each line into metric data; no PutMetricData call, no extra permission).
 * Each fact is emitted once, where it becomes known (README "Operations" lists where).
 */
export const SERVICE_NAME = 'rds-iam-access';

/** serverless.yml sets it per stage (`RdsIamAccess/STAGE`), so two stages in one account never share an alarm. */
export const metricsNamespace = (env: NodeJS.ProcessEnv = process.env): string => env.POWERTOOLS_METRICS_NAMESPACE || 'RdsIamAccess/local';

/** Every metric this project emits: the alarms and the dashboards name these. */
export const METRIC = {
  requestsStarted: 'RequestsStarted',
  requestsSucceeded: 'RequestsSucceeded',
  requestsFailed: 'RequestsFailed',
  requestDuration: 'RequestDuration',
  /** A run that ended with a retryable error code: the state machine's retries were used up. */
  retriesExhausted: 'RetriesExhausted',
  sessionsTerminated: 'SessionsTerminated',
  objectsReassigned: 'ObjectsReassigned',
  grantsPerPrincipal: 'GrantsPerPrincipal',
  /** Flagged items of the scheduled access review (0 when it found none, so the alarm sees every run). */
  driftFound: 'DriftFound',
  grantsRepaired: 'GrantsRepaired',
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

export interface MetricPoint {
  name: MetricName;
  unit: 'Count' | 'Milliseconds';
  value: number;
  /** Low-cardinality only (kind, target, error code): each combination is a metric of its own. */
  dimensions?: Record<string, string>;
  /** Written into the EMF line, searchable in Logs Insights, not a dimension (request ids, principals). */
  metadata?: Record<string, string>;
}

const UNITS = { Count: MetricUnit.Count, Milliseconds: MetricUnit.Milliseconds } as const;

/**
 * Writes one metric with its own dimensions as one EMF line, at once (Powertools' single-metric mode), so a metric
 * is never lost to a handler that throws before a flush and dimensions of one never leak onto another. The
 * instance is made per point: POWERTOOLS_METRICS_DISABLED is read when it is made (tests and local mode set it).
 */
export const emitMetrics = (points: MetricPoint[]): void => {
  for (const p of points) {
    const m = new Metrics({ namespace: metricsNamespace(), serviceName: SERVICE_NAME, singleMetric: true });
    for (const [k, v] of Object.entries(p.dimensions ?? {})) m.addDimension(k, v);
    for (const [k, v] of Object.entries(p.metadata ?? {})) m.addMetadata(k, v);
    m.addMetric(p.name, UNITS[p.unit], p.value);
  }
};
