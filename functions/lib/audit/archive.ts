import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { isAwsError, mapAwsError } from '../core/aws-errors';
import { attemptName } from '../api/attempts';
import type { RequestKind } from '../core/executions';
import { executionArnOf } from '../core/executions';

/**
 * One execution, complete: what DescribeExecution and GetExecutionHistory say about it, as JSON
 * (dates as ISO strings). Step Functions keeps this 90 days after the run ends; the archive keeps
 * the same document in S3, so whatever reads it gives the same answer from either source.
 */
export const ARCHIVE_SCHEMA = 'rds-iam-access/execution/v1';

export interface ArchivedExecution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: string;
  startDate: string;
  stopDate?: string;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
}

/** A history event as Step Functions reports it, dates as ISO strings. */
export type ArchivedEvent = Omit<HistoryEvent, 'timestamp'> & { timestamp: string };

export interface ExecutionArchive {
  schema: typeof ARCHIVE_SCHEMA;
  kind: RequestKind;
  execution: ArchivedExecution;
  events: ArchivedEvent[];
}

export interface ArchiveStore {
  s3: S3Client;
  bucket: string;
}

/**
 * By execution name, start and stop: every attempt of a request is a document of its own, and so is every run of one
 * name. Step Functions takes a name again once it has forgotten the execution (90 days after it ended), and local mode
 * after a restart, so a name alone would let a later run overwrite an earlier one's record. The start time tells runs
 * of a name apart; the stop time tells a redriven execution's second end from its first (same start, and the later
 * history holds the earlier one). Written only if absent (IfNoneMatch), so nothing archived is ever replaced.
 */
export const archivePrefix = (kind: RequestKind, executionName: string): string => `executions/${kind}/${executionName}/`;
export const archiveKey = (kind: RequestKind, executionName: string, startDate: string, stopDate: string | undefined): string =>
  `${archivePrefix(kind, executionName)}${startDate}_${stopDate ?? 'running'}.json`;
/** Where versions before this one kept the (single) document of an execution name: still read, never written. */
export const legacyArchiveKey = (kind: RequestKind, executionName: string): string => `executions/${kind}/${executionName}.json`;

/** What the audit listing shows of one ended run, and filters on. */
export interface AuditSummary {
  requestId: string;
  kind: RequestKind;
  /** Which run of the request (1, or a retry's number): every attempt is listed, under its request's id. */
  attempt: number;
  status: string;
  startedAt: string;
  stoppedAt?: string;
  requestedBy?: string;
  /** Who asked for this attempt, when it is a retry. */
  retriedBy?: string;
  reason?: string;
  target?: string;
  dbUser?: string;
  principalArn?: string;
  /** Offboardings without a principal: the principals whose grants the run removed. */
  principalArns?: string[];
  error?: { code: string; message: string };
}

/**
 * The listing's index: one small object per ended run, keyed by start time, so listing in time
 * order, from a date and page by page is an S3 listing (StartAfter), not a read of every history.
 */
export const INDEX_PREFIX = 'index/';
export const indexKey = (s: Pick<AuditSummary, 'startedAt' | 'kind' | 'requestId'> & { attempt?: number }): string =>
  `${INDEX_PREFIX}${s.startedAt}_${s.kind}_${attemptName(s.requestId, s.attempt ?? 1)}.json`;

const SECRET_KEY = /pass(word|wd)|secret(?!arn)|token|credential|private.?key/i;

/**
 * Defence in depth: nothing secret is ever put into execution state, but should a value under a
 * secret-sounding key appear (also inside the JSON strings history events carry), it is replaced.
 */
export const redactSecrets = <T>(value: T): T => {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k, SECRET_KEY.test(k) && (typeof x === 'string' || typeof x === 'number') ? '[redacted]' : walk(x)]),
      );
    }
    if (typeof v === 'string' && /^\s*[{[]/.test(v)) {
      try {
        const parsed: unknown = JSON.parse(v);
        const redacted = JSON.stringify(walk(parsed));
        return redacted === JSON.stringify(parsed) ? v : redacted;
      } catch {
        return v;
      }
    }
    return v;
  };
  return walk(value) as T;
};

const isoOf = (d: Date | undefined): string | undefined => d?.toISOString();

/** The execution as Step Functions has it now, or undefined when it does not (never ran, or history expired). */
export const readExecution = async (sfn: SFNClient, kind: RequestKind, stateMachineArn: string, name: string): Promise<ExecutionArchive | undefined> => {
  const executionArn = executionArnOf(stateMachineArn, name);
  try {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, includeExecutionData: true, nextToken }));
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const execution: ArchivedExecution = {
      executionArn,
      stateMachineArn,
      name: d.name ?? name,
      status: d.status ?? 'RUNNING',
      startDate: isoOf(d.startDate) ?? new Date(0).toISOString(),
      ...(d.stopDate ? { stopDate: isoOf(d.stopDate) } : {}),
      ...(d.input !== undefined ? { input: d.input } : {}),
      ...(d.output !== undefined ? { output: d.output } : {}),
      ...(d.error !== undefined ? { error: d.error } : {}),
      ...(d.cause !== undefined ? { cause: d.cause } : {}),
    };
    return redactSecrets({ schema: ARCHIVE_SCHEMA, kind, execution, events: JSON.parse(JSON.stringify(events)) as ArchivedEvent[] });
  } catch (e) {
    if (isAwsError(e, 'ExecutionDoesNotExist')) return undefined;
    return mapAwsError(e, `read execution ${name}`);
  }
};

/** S3's answer to a conditional write whose object exists (412), and to two such writes at once (409). */
const ALREADY_WRITTEN = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);

/** Writes `key` only if absent; true when written, false when it was there (this run, archived by an earlier delivery). */
export const putIfAbsent = async (store: ArchiveStore, key: string, body: string, metadata?: Record<string, string>): Promise<boolean> => {
  try {
    await store.s3.send(
      new PutObjectCommand({
        Bucket: store.bucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        IfNoneMatch: '*',
        ...(metadata ? { Metadata: metadata } : {}),
      }),
    );
    return true;
  } catch (e) {
    // 409: another delivery of the same event is writing it; either way the object is this run's.
    if (isAwsError(e, ...ALREADY_WRITTEN)) return false;
    throw e;
  }
};

/**
 * Archives one ended execution: the document, then its index entry. Both keys carry the run's start time, so an
 * earlier run of the same name keeps its own; a repeated delivery (EventBridge and Lambda retry) finds both written
 * and changes nothing. The answer says whether this call wrote the document.
 */
export const writeArchive = async (store: ArchiveStore, archive: ExecutionArchive, summary: AuditSummary): Promise<{ key: string; written: boolean }> => {
  const { name, startDate, stopDate, status } = archive.execution;
  const key = archiveKey(archive.kind, name, startDate, stopDate);
  try {
    const written = await putIfAbsent(store, key, JSON.stringify(redactSecrets(archive)), { status, 'start-date': startDate });
    // After the document: an index entry never points at a run that is not archived. Its key holds the run's start
    // too, so it replaces only this run's entry: a repeated delivery's (the same), or a redriven run's first end.
    await store.s3.send(
      new PutObjectCommand({ Bucket: store.bucket, Key: indexKey(summary), Body: JSON.stringify(redactSecrets(summary)), ContentType: 'application/json' }),
    );
    return { key, written };
  } catch (e) {
    return mapAwsError(e, `archive ${key}`);
  }
};

const readDocument = async (store: ArchiveStore, key: string): Promise<ExecutionArchive | undefined> => {
  try {
    const out = await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
    return JSON.parse((await out.Body?.transformToString()) ?? 'null') as ExecutionArchive;
  } catch (e) {
    if (isAwsError(e, 'NoSuchKey', 'NotFound')) return undefined;
    return mapAwsError(e, `read archive ${key}`);
  }
};

/**
 * Every archived run of this execution name, in start order: for each start the document of its latest end (a
 * redriven execution's last history holds the earlier ones). Documents archived before runs were keyed by start
 * (one per name) are read too.
 */
export const readArchives = async (store: ArchiveStore, kind: RequestKind, name: string): Promise<ExecutionArchive[]> => {
  const keys: string[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await store.s3.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: archivePrefix(kind, name), ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (e) {
    return mapAwsError(e, `list the archive of ${name}`);
  }
  // Keys sort as start_stop (ISO times): the last key of each start is its latest end.
  const latestPerStart = new Map<string, string>();
  for (const key of keys.sort()) latestPerStart.set(key.slice(archivePrefix(kind, name).length).split('_')[0], key);
  const runs: ExecutionArchive[] = [];
  const legacy = await readDocument(store, legacyArchiveKey(kind, name));
  if (legacy && !latestPerStart.has(legacy.execution.startDate)) runs.push(legacy);
  for (const key of latestPerStart.values()) {
    const doc = await readDocument(store, key);
    if (doc) runs.push(doc);
  }
  return runs.sort((a, b) => a.execution.startDate.localeCompare(b.execution.startDate));
};
