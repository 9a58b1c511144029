import { type ArchivedExecution, readExecution, writeArchive } from './lib/audit/archive';
import { outcomeMetrics } from './lib/audit/outcome-metrics';
import { auditSummaryOf } from './lib/audit/trail';
import { REQUEST_KINDS } from './lib/core/executions';
import { s3Client, sfnClient } from './lib/core/clients';
import { requiredEnv, stateMachinesFromEnv } from './lib/core/env';
import { ProvisioningError } from './lib/core/errors';
import { stepHandler } from './lib/core/logger';

/** The part of EventBridge's "Step Functions Execution Status Change" event this function reads. */
interface StatusChange {
  source?: unknown;
  'detail-type'?: unknown;
  detail?: { stateMachineArn?: unknown; name?: unknown; status?: unknown };
}

/**
 * When an execution ends, its whole history goes to the archive bucket as one JSON document:
 * Step Functions forgets it 90 days later, audits do not.
 */
export const handler = stepHandler(
  'ArchiveExecution',
  async (event: StatusChange) => {
    const d = event.detail;
    if (
      event.source !== 'aws.states' ||
      event['detail-type'] !== 'Step Functions Execution Status Change' ||
      typeof d?.stateMachineArn !== 'string' ||
      typeof d.name !== 'string'
    ) {
      throw new ProvisioningError('ValidationError', 'not a "Step Functions Execution Status Change" event with detail.stateMachineArn and detail.name');
    }
    const machines = stateMachinesFromEnv();
    const kind = REQUEST_KINDS.find((k) => machines[k] === d.stateMachineArn);
    if (!kind) throw new ProvisioningError('ValidationError', `${d.stateMachineArn} is not a state machine of this stack`);
    const archive = await readExecution(sfnClient(), kind, d.stateMachineArn, d.name);
    // Step Functions has it for 90 days after the end; an event older than that is a replay nobody can serve.
    if (!archive) throw new ProvisioningError('RequestNotFound', `execution ${d.name} is not known to Step Functions`);
    const summary = auditSummaryOf(archive);
    const { key, written } = await writeArchive({ s3: s3Client(), bucket: requiredEnv('ARCHIVE_BUCKET') }, archive, summary);
    const { status }: ArchivedExecution = archive.execution;
    // written false: a repeated delivery of this run's end, already archived (the archive is never overwritten).
    return { requestId: d.name, kind, status, key, written, events: archive.events.length, summary };
  },
  // After the archive is written: a delivery EventBridge retries because archiving failed is counted once, when it
  // succeeds; a repeated delivery of a run already archived was counted when it was written.
  (out) => (out.written ? outcomeMetrics(out.summary) : []),
);
