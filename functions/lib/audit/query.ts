import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { type PrincipalArn, parsePrincipalArn, sameRoleOrUser } from '../core/arn';
import { isAwsError, mapAwsError } from '../core/aws-errors';
import { invalid } from '../core/errors';
import { describeRequest, type ExecutionsDeps, REQUEST_KINDS, type RequestView } from '../core/executions';
import { type ArchiveStore, type AuditSummary, INDEX_PREFIX, indexKey } from './archive';
import { requestFieldsOf } from './trail';

/**
 * GET /audit: ended runs from the archive's index (in start-time order, stable across Step
 * Functions' 90-day expiry: the answer for a period never changes), and, on the first page, the
 * runs still going, from Step Functions.
 */
export interface AuditFilter {
  dbUser?: string;
  principalArn?: PrincipalArn;
  target?: string;
  status?: string;
  /** ISO timestamps, inclusive: runs that started in [from, to]. */
  from?: string;
  to?: string;
}

export interface AuditPage {
  items: AuditSummary[];
  /** First page only: runs not ended yet; they enter `items` once archived. */
  running?: AuditSummary[];
  /** First page only: runs of the last day that ended but are not archived (archiving in flight, or failed: see the dead-letter queue). */
  unarchived?: AuditSummary[];
  nextCursor?: string;
}

const STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'RUNNING'];
/** Index entries examined, and time spent, per call at most (the API answers within 29 s); a page may then come back short, with a cursor. */
const SCAN_BUDGET = 1000;
const TIME_BUDGET_MS = 15_000;
const ISO_LENGTH = '2026-01-01T00:00:00.000Z'.length;

/** A date alone means the whole day: `from` its first millisecond, `to` its last. */
const isoOrRefuse = (field: 'from' | 'to', v: string | undefined): string | undefined => {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(field, 'must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z');
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
  return new Date(dateOnly && field === 'to' ? t + 86_400_000 - 1 : t).toISOString();
};

/** Reads the query parameters of GET /audit into a filter; anything malformed is a 400 naming it. */
export const auditFilterOf = (q: Partial<Record<'dbUser' | 'principalArn' | 'target' | 'status' | 'from' | 'to', string>>): AuditFilter => {
  if (q.status !== undefined && !STATUSES.includes(q.status)) throw invalid('status', `must be one of ${STATUSES.join(', ')}`);
  const from = isoOrRefuse('from', q.from);
  const to = isoOrRefuse('to', q.to);
  if (from && to && from > to) throw invalid('from', 'is after to');
  return {
    ...(q.dbUser !== undefined ? { dbUser: q.dbUser } : {}),
    ...(q.principalArn !== undefined ? { principalArn: parsePrincipalArn(q.principalArn) } : {}),
    ...(q.target !== undefined ? { target: q.target } : {}),
    ...(q.status !== undefined ? { status: q.status } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
  };
};

export const limitOf = (v: string | undefined): number => {
  if (v === undefined) return 50;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 200) throw invalid('limit', 'must be a whole number from 1 to 200');
  return n;
};

const encodeCursor = (key: string): string => Buffer.from(JSON.stringify({ after: key })).toString('base64url');
const decodeCursor = (cursor: string): string => {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof after === 'string' && after.startsWith(INDEX_PREFIX)) return after;
  } catch {
    // refused below
  }
  throw invalid('cursor', 'is not a cursor this API returned');
};

export const matches = (s: AuditSummary, f: AuditFilter): boolean => {
  return (
    (f.dbUser === undefined || s.dbUser === f.dbUser) &&
    (f.target === undefined || s.target === f.target) &&
    (f.status === undefined || s.status === f.status) &&
    (f.principalArn === undefined || [s.principalArn, ...(s.principalArns ?? [])].some((a) => sameRoleOrUser(a, f.principalArn?.arn))) &&
    (f.from === undefined || s.startedAt >= f.from) &&
    (f.to === undefined || s.startedAt <= f.to)
  );
};

const summaryOfView = (r: RequestView): AuditSummary => ({
  requestId: r.requestId,
  kind: r.kind,
  attempt: r.attempt,
  status: r.status,
  startedAt: r.startedAt,
  ...(r.stoppedAt ? { stoppedAt: r.stoppedAt } : {}),
  ...requestFieldsOf(r.input),
  ...(r.error ? { error: r.error } : {}),
});

const runningNow = async (executions: ExecutionsDeps, filter: AuditFilter): Promise<AuditSummary[]> => {
  const found: AuditSummary[] = [];
  try {
    for (const kind of REQUEST_KINDS) {
      let nextToken: string | undefined;
      do {
        const page = await executions.sfn.send(
          new ListExecutionsCommand({ stateMachineArn: executions.stateMachines[kind], statusFilter: 'RUNNING', maxResults: 100, nextToken }),
        );
        for (const e of page.executions ?? []) {
          const view = e.name ? await describeRequest(executions, kind, e.name) : undefined;
          if (view?.status === 'RUNNING') found.push(summaryOfView(view));
        }
        nextToken = page.nextToken;
      } while (nextToken && found.length < SCAN_BUDGET);
    }
  } catch (e) {
    return mapAwsError(e, 'list running requests');
  }
  return found.filter((s) => matches(s, filter)).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
};

const DAY_MS = 86_400_000;

const unarchivedNow = async (deps: { archive: ArchiveStore; executions: ExecutionsDeps }, filter: AuditFilter): Promise<AuditSummary[]> => {
  const found: AuditSummary[] = [];
  try {
    for (const kind of REQUEST_KINDS) {
      const page = await deps.executions.sfn.send(new ListExecutionsCommand({ stateMachineArn: deps.executions.stateMachines[kind], maxResults: 100 }));
      for (const e of page.executions ?? []) {
        if (!e.name || !e.startDate || e.status === 'RUNNING' || !e.stopDate || Date.now() - e.stopDate.getTime() > DAY_MS) continue;
        try {
          await deps.archive.s3.send(
            new GetObjectCommand({ Bucket: deps.archive.bucket, Key: indexKey({ startedAt: e.startDate.toISOString(), kind, requestId: e.name }) }),
          );
        } catch (err) {
          if (!isAwsError(err, 'NoSuchKey')) throw err;
          const view = await describeRequest(deps.executions, kind, e.name);
          if (view) found.push(summaryOfView(view));
        }
      }
    }
  } catch (e) {
    return mapAwsError(e, 'list unarchived requests');
  }
  return found.filter((s) => matches(s, filter)).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
};

/** What only Step Functions knows, shown on the first page. */
const fromStepFunctions = async (
  deps: { archive: ArchiveStore; executions: ExecutionsDeps },
  filter: AuditFilter,
): Promise<Pick<AuditPage, 'running' | 'unarchived'>> => ({
  running: await runningNow(deps.executions, filter),
  unarchived: await unarchivedNow(deps, filter),
});

export const listAudit = async (
  deps: { archive: ArchiveStore; executions: ExecutionsDeps },
  filter: AuditFilter,
  limit: number,
  cursor?: string,
): Promise<AuditPage> => {
  const { s3, bucket } = deps.archive;
  let startAfter = cursor !== undefined ? decodeCursor(cursor) : filter.from ? `${INDEX_PREFIX}${filter.from}` : undefined;
  const items: AuditSummary[] = [];
  const started = Date.now();
  let examined = 0;
  let continuation: string | undefined;
  try {
    for (;;) {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: INDEX_PREFIX,
          StartAfter: continuation ? undefined : startAfter,
          ContinuationToken: continuation,
          MaxKeys: 1000,
        }),
      );
      for (const { Key: key } of page.Contents ?? []) {
        if (!key) continue;
        const startedAt = key.slice(INDEX_PREFIX.length, INDEX_PREFIX.length + ISO_LENGTH);
        if (filter.to && startedAt > filter.to) return { items, ...(cursor === undefined ? await fromStepFunctions(deps, filter) : {}) };
        const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
        const summary = JSON.parse(body ?? 'null') as AuditSummary | null;
        if (summary && matches(summary, filter)) items.push(summary);
        examined++;
        startAfter = key;
        if (items.length === limit || examined >= SCAN_BUDGET || Date.now() - started > TIME_BUDGET_MS) {
          return { items, ...(cursor === undefined ? await fromStepFunctions(deps, filter) : {}), nextCursor: encodeCursor(key) };
        }
      }
      if (!page.IsTruncated || !page.NextContinuationToken) break;
      continuation = page.NextContinuationToken;
    }
  } catch (e) {
    return mapAwsError(e, 'list the audit index');
  }
  return { items, ...(cursor === undefined ? await fromStepFunctions(deps, filter) : {}) };
};
