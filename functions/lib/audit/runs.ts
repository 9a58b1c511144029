import type { SFNClient } from '@aws-sdk/client-sfn';
import { attemptName } from '../api/attempts';
import type { RequestKind } from '../core/executions';
import { MAX_ATTEMPTS } from '../core/requests';
import { type ArchiveStore, type ExecutionArchive, readArchives, readExecution } from './archive';
import type { AuditRecord } from './trail';

/** One execution's document and where it was read. */
export interface SourcedRun {
  archive: ExecutionArchive;
  source: AuditRecord['source'];
}

/**
 * Every execution of one name: the archive's, and Step Functions' own (at most one, the latest; it wins over the
 * archived copy of the same run, which it may be ahead of). In start order.
 */
const runsNamed = async (deps: { sfn: SFNClient; stateMachineArn: string; archive: ArchiveStore }, kind: RequestKind, name: string): Promise<SourcedRun[]> => {
  const live = await readExecution(deps.sfn, kind, deps.stateMachineArn, name);
  const archived = (await readArchives(deps.archive, kind, name)).filter((a) => a.execution.startDate !== live?.execution.startDate);
  return [...archived.map((archive) => ({ archive, source: 'archive' as const })), ...(live ? [{ archive: live, source: 'stepfunctions' as const }] : [])].sort(
    (a, b) => a.archive.execution.startDate.localeCompare(b.archive.execution.startDate),
  );
};

/**
 * The runs of a request id, oldest first, each as its attempts in order. A request id is used again once Step
 * Functions has forgotten its execution (or local mode restarted): each such use is a run of its own, with its own
 * retries. An attempt belongs to the run whose first attempt started last before it (a retry needs the run's latest
 * attempt to have ended, so attempts of two runs never interleave). Empty when the id never ran.
 */
export const readRequestRuns = async (
  deps: { sfn: SFNClient; stateMachineArn: string; archive: ArchiveStore },
  kind: RequestKind,
  requestId: string,
): Promise<SourcedRun[][]> => {
  const firsts = await runsNamed(deps, kind, requestId);
  const runs = firsts.map((first) => [first]);
  // Attempt n of every run has the same name: read each name once; the first name without any run ends the list.
  for (let attempt = 2; attempt <= MAX_ATTEMPTS && runs.length; attempt++) {
    const named = await runsNamed(deps, kind, attemptName(requestId, attempt));
    if (!named.length) break;
    for (const r of named) {
      const start = r.archive.execution.startDate;
      const owner = runs.findLast((run) => run[0].archive.execution.startDate <= start);
      owner?.push(r);
    }
  }
  return runs;
};
