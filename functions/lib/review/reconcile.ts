import type { Config, ResolvedTargetConfig } from '../core/config';
import { resolveTargetConfig } from '../core/config';
import type { ArchiveStore } from '../audit/archive';
import { REVIEW_SCHEMA, writeReviewReport } from '../audit/review-archive';
import { METRIC, type MetricPoint } from '../core/metrics';
import { driftOf, type DriftItem } from './drift';
import { type Notifier, driftMessage, publishDrift } from './notify';
import { type Repair, type RepairDeps, repairDanglingGrants } from './repair';
import { runAccessReview } from './run-review';

export interface ReconcileDeps extends RepairDeps {
  config: Config;
  archive: ArchiveStore;
  notify: Notifier;
  now?: () => Date;
}

export interface ReconcileResult {
  generatedAt: string;
  reportKey: string;
  summary: { users: number; grants: number; flagged: number };
  drift: number;
  /** Only when repair is configured on (operations.reconcile.repair). */
  repairs: Repair[];
  /** The SNS message id, when drift was found and published. */
  notified?: string;
}

/**
 * The scheduled reconcile: the access review of every target (as GET /grants computes it), repairs toward less
 * access if configured, the report archived beside the execution histories, and a notification when it found drift.
 * The report is archived before anyone is notified, so the message always points at a document that exists.
 */
export const reconcileAccess = async (deps: ReconcileDeps): Promise<ReconcileResult> => {
  const targets: ResolvedTargetConfig[] = Object.keys(deps.config.targets)
    .sort()
    .map((n) => resolveTargetConfig(deps.config, n));
  const now = (deps.now ?? (() => new Date()))();
  const review = await runAccessReview(deps, targets, {}, undefined, now);
  const drift: DriftItem[] = driftOf(review);
  const repair = deps.config.operations.reconcile.repair;
  const repairs = repair.removeDanglingGrants ? await repairDanglingGrants(deps, targets, review, `reconcile-${review.generatedAt}`) : [];
  const reportKey = await writeReviewReport(deps.archive, { schema: REVIEW_SCHEMA, review, drift, repairs, repair });
  const notified = drift.length ? await publishDrift(deps.notify, driftMessage(drift, repairs, reportKey, deps.archive.bucket)) : undefined;
  return { generatedAt: review.generatedAt, reportKey, summary: review.summary, drift: drift.length, repairs, ...(notified ? { notified } : {}) };
};

/** DriftFound on every run (0 too: the alarm then knows the last review was clean), GrantsRepaired when repair is on. */
export const reconcileMetrics = (r: ReconcileResult): MetricPoint[] => [
  { name: METRIC.driftFound, unit: 'Count', value: r.drift, metadata: { reportKey: r.reportKey } },
  ...(r.repairs.length
    ? [
        {
          name: METRIC.grantsRepaired,
          unit: 'Count' as const,
          value: r.repairs.filter((x) => x.outcome === 'removed').length,
          metadata: { reportKey: r.reportKey },
        },
      ]
    : []),
];
