/**
 * The audit trail: GET /audit/{requestId} from Step Functions' history (GetExecutionHistory, here
 * the local interpreter's runs in Step Functions' event format), and from the S3 archive the
 * executionArchive function writes when a run ends, once Step Functions no longer has it.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DetachRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler as archiveHandler } from '../../functions/execution-archive';
import { redactSecrets } from '../../functions/lib/audit/archive';
import type { AuditRecord } from '../../functions/lib/audit/trail';
import type { HttpEvent } from '../../functions/lib/api/http';
import { type ApiDeps, handleApiEvent } from '../../functions/lib/api/routes';
import { logger } from '../../functions/lib/core/logger';
import type { Sandbox } from '../../dev/sandbox';
import type { SimulatedStepFunctions } from '../../dev/simulated-services';
import { ACCOUNT, type ApiStack, BUCKET, startApiStack } from '../support/api-stack';
import { testPg, uniqueName } from '../support/pg';

const ADMIN = `arn:aws:sts::${ACCOUNT}:assumed-role/platform-admin/jane`;
const AUDITOR = `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/kim`;

let stack: ApiStack;
let sb: Sandbox;
let sfn: SimulatedStepFunctions;
let deps: ApiDeps;

beforeEach(() => {
  stack = startApiStack('audit');
  ({ sb, sfn, deps } = stack);
});
afterEach(() => stack.stop());

const event = (routeKey: string, caller: string, opts: { body?: object; requestId?: string } = {}): HttpEvent =>
  ({
    version: '2.0',
    routeKey,
    rawPath: routeKey.split(' ')[1].replace('{requestId}', opts.requestId ?? ''),
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    ...(opts.body ? { body: JSON.stringify(opts.body) } : {}),
    ...(opts.requestId ? { pathParameters: { requestId: opts.requestId } } : {}),
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'test',
      domainName: 'test',
      domainPrefix: 'test',
      http: { method: routeKey.split(' ')[0], path: '/', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: 'api-req',
      routeKey,
      stage: '$default',
      time: '',
      timeEpoch: 0,
      authorizer: { iam: { accessKey: 'A', accountId: ACCOUNT, callerId: 'C', cognitoIdentity: null, principalOrgId: '', userArn: caller, userId: 'U' } },
    },
  }) as HttpEvent;

const api = async (routeKey: string, caller: string, opts: { body?: object; requestId?: string } = {}) => {
  const r = await handleApiEvent(event(routeKey, caller, opts), deps);
  return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, unknown> };
};

/** Submits through the API and waits until the run ended and was archived. */
const runRequest = async (routeKey: string, body: object): Promise<string> => {
  const requestId = uniqueName('AUD');
  const r = await api(routeKey, ADMIN, { body: { requestId, ...body } });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  await stack.settled();
  return requestId;
};

/**
 * Starts an execution in Step Functions directly, not through the API (which refuses a database that does not exist
 * before anything starts): as a run whose database was dropped after it was accepted. Waits until it was archived.
 */
const startedInStepFunctions = async (kind: 'onboarding' | 'offboarding', input: Record<string, unknown>): Promise<string> => {
  const requestId = uniqueName('AUD');
  await deps.executions.sfn.send(
    new StartExecutionCommand({ stateMachineArn: deps.executions.stateMachines[kind], name: requestId, input: JSON.stringify({ requestId, ...input }) }),
  );
  await stack.settled();
  return requestId;
};

const audit = async (requestId: string, caller = AUDITOR): Promise<AuditRecord> => {
  const r = await api('GET /audit/{requestId}', caller, { requestId });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as unknown as AuditRecord;
};

describe('GET /audit/{requestId}', () => {
  it('a succeeded onboarding: who asked, every step in order with times and results, from Step Functions', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('AuditRole'));
    const requestId = await runRequest('POST /access-requests', { principalArn, target: 'orders', dbRoles: ['app_read'], reason: 'OPS-77' });
    const record = await audit(requestId);
    expect(record).toMatchObject({
      requestId,
      kind: 'onboarding',
      status: 'SUCCEEDED',
      requestedBy: ADMIN,
      reason: 'OPS-77',
      target: 'orders',
      principalArn,
      source: 'stepfunctions',
    });
    expect(record.steps.map((s) => s.name)).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'CreateDbUser', 'AllowConnect', 'Done']);
    for (const s of record.steps) {
      expect(Date.parse(s.enteredAt), s.name).toBeGreaterThanOrEqual(Date.parse(record.startedAt));
      if (s.exitedAt) expect(Date.parse(s.exitedAt), s.name).toBeGreaterThanOrEqual(Date.parse(s.enteredAt));
      expect(s.error, s.name).toBeUndefined();
    }
    const create = record.steps.find((s) => s.name === 'CreateDbUser');
    expect(create).toMatchObject({ type: 'Task', attempts: 1, result: { outcome: 'created' } });
    expect((create!.result as { statements: string[] }).statements).toContain(`grant app_read to ${principalArn.split('/').pop()}`);
    expect(record.steps.find((s) => s.name === 'AllowConnect')?.result).toMatchObject({ outcome: 'added' });
  });

  it('a failed onboarding shows the step that refused and the error', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('AuditRole'));
    // An allowed role that the target lacks: refused by CreateDbUser, after validation.
    const requestId = uniqueName('AUD');
    await sb.runner.run('onboard', requestId, { requestId, principalArn, target: 'orders', databases: ['no_such_db'], requestedBy: ADMIN });
    const record = await audit(requestId);
    expect(record.status).toBe('FAILED');
    expect(record.error?.code).toBe('UnknownDatabase');
    const failedStep = record.steps.find((s) => s.error);
    expect(failedStep).toMatchObject({ name: 'CreateDbUser', error: { code: 'UnknownDatabase' } });
    expect(failedStep?.error?.message).toContain('no_such_db');
    expect(record.steps.at(-1)).toMatchObject({ type: 'Fail', error: { code: 'UnknownDatabase' } });
  });

  it('a compensated onboarding: the grant failed, the new user was dropped again, each with its step', async () => {
    const crowded = uniqueName('Crowded');
    const principalArn = sb.aws.iam.addRole(crowded);
    // IAM's attached-policy quota is full: the grant cannot be attached.
    for (let p = 0; p < 10; p++) sb.aws.iam.attachForeignPolicy('role', crowded, `${crowded}-other-${p}`, { Version: '2012-10-17', Statement: [] });
    const requestId = await runRequest('POST /access-requests', { principalArn, target: 'orders' });
    const record = await audit(requestId);
    expect(record).toMatchObject({ status: 'FAILED', error: { code: 'GrantLimitReached' } });
    const names = record.steps.map((s) => s.name);
    expect(names).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'CreateDbUser', 'AllowConnect', 'CompensateDbUser', 'Failed']);
    expect(record.steps.find((s) => s.name === 'AllowConnect')?.error).toMatchObject({ code: 'GrantLimitReached' });
    const compensate = record.steps.find((s) => s.name === 'CompensateDbUser');
    expect(compensate?.error).toBeUndefined();
    expect(JSON.stringify(compensate?.result)).toMatch(/dropped/);
  });

  it('once Step Functions forgets the execution, the archive serves the same record', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('AuditRole'));
    const requestId = await runRequest('POST /access-requests', { principalArn, target: 'orders' });
    const live = await audit(requestId);
    expect(sb.aws.s3.objects.has(`${BUCKET}/executions/onboarding/${requestId}/${live.startedAt}_${live.stoppedAt}.json`)).toBe(true);

    sfn.expire('onboard', requestId);
    expect((await api('GET /requests/{requestId}', ADMIN, { requestId })).status).toBe(404);
    const archived = await audit(requestId);
    expect(archived.source).toBe('archive');
    expect({ ...archived, source: 'stepfunctions' }).toEqual(live);
  });

  it('the archive of an offboarding holds its whole history', async () => {
    const name = uniqueName('AuditLeaver');
    const principalArn = sb.aws.iam.addRole(name);
    await runRequest('POST /access-requests', { principalArn, target: 'orders' });
    const requestId = await runRequest('POST /revocations', { dbUser: name, target: 'orders', reason: 'left' });
    sfn.expire('offboard', requestId);
    const record = await audit(requestId);
    expect(record).toMatchObject({ kind: 'offboarding', status: 'SUCCEEDED', dbUser: name, reason: 'left', source: 'archive' });
    expect(record.steps.map((s) => s.name)).toContain('RetireDbUser');
  });

  it('only auditors and administrators may read it; unknown ids are 404', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('AuditRole'));
    const requestId = await runRequest('POST /access-requests', { principalArn, target: 'orders' });
    expect(await api('GET /audit/{requestId}', `arn:aws:sts::${ACCOUNT}:assumed-role/developer/x`, { requestId })).toMatchObject({
      status: 403,
      body: { error: 'NotAuthorized' },
    });
    expect((await api('GET /audit/{requestId}', ADMIN, { requestId })).status).toBe(200);
    expect(await api('GET /audit/{requestId}', AUDITOR, { requestId: 'never-ran' })).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
  });
});

describe('GET /audit', () => {
  const list = async (query: Record<string, string>, caller = AUDITOR) => {
    const e = event('GET /audit', caller);
    e.queryStringParameters = query;
    const r = await handleApiEvent(e, deps);
    return {
      status: r.statusCode,
      body: JSON.parse(r.body) as {
        items: AuditRecord[];
        running?: AuditRecord[];
        unarchived?: AuditRecord[];
        nextCursor?: string;
        error?: string;
        message?: string;
      },
    };
  };

  /** Four ended runs: three onboardings (two targets) and one failure, archived. */
  const history = async () => {
    const a = uniqueName('ListA');
    const b = uniqueName('ListB');
    const arnA = sb.aws.iam.addRole(a);
    const arnB = sb.aws.iam.addRole(b);
    const ids = [
      await runRequest('POST /access-requests', { principalArn: arnA, target: 'orders' }),
      await runRequest('POST /access-requests', { principalArn: arnB, target: 'orders' }),
      await runRequest('POST /access-requests', { principalArn: arnA, target: 'analytics' }),
      await startedInStepFunctions('onboarding', {
        principalArn: arnB,
        dbUser: b,
        target: 'orders',
        dbRoles: [],
        databases: ['no_such_db'],
        requestedBy: ADMIN,
      }),
    ];
    return { a, b, arnA, arnB, ids };
  };

  it('lists ended runs in start order, filtered by database user, principal, target and status', async () => {
    const { a, b, arnA, ids } = await history();
    const all = await list({});
    expect(all.status).toBe(200);
    expect(all.body.items.map((i) => i.requestId)).toEqual(ids);
    expect(all.body.items[3]).toMatchObject({ status: 'FAILED', error: { code: 'UnknownDatabase' }, requestedBy: ADMIN });
    expect((await list({ dbUser: a })).body.items.map((i) => i.requestId)).toEqual([ids[0], ids[2]]);
    expect((await list({ principalArn: arnA, target: 'analytics' })).body.items.map((i) => i.requestId)).toEqual([ids[2]]);
    expect((await list({ dbUser: b, status: 'FAILED' })).body.items.map((i) => i.requestId)).toEqual([ids[3]]);
    expect((await list({ target: 'orders', status: 'SUCCEEDED' })).body.items.map((i) => i.requestId)).toEqual([ids[0], ids[1]]);
  });

  it('a time range selects by start time, inclusive', async () => {
    const { ids } = await history();
    const items = (await list({})).body.items;
    const range = (await list({ from: items[1].startedAt, to: items[2].startedAt })).body.items.map((i) => i.requestId);
    expect(range).toEqual([ids[1], ids[2]]);
    expect((await list({ from: '2000-01-01', to: '2000-12-31' })).body.items).toEqual([]);
  });

  it('pages with a cursor: limit 1 walks every run exactly once', async () => {
    const { ids } = await history();
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await list({ limit: '1', ...(cursor ? { cursor } : {}) });
      expect(r.status).toBe(200);
      seen.push(...r.body.items.map((i) => i.requestId));
      cursor = r.body.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(ids);
  });

  it('answers the same after Step Functions forgot the runs', async () => {
    const { ids } = await history();
    const before = (await list({})).body.items;
    for (const id of ids) sfn.expire('onboard', id);
    expect((await list({})).body.items).toEqual(before);
  });

  it('shows ended runs Step Functions has but the archive lacks (archiving in flight or failed) on the first page', async () => {
    const { ids } = await history();
    const indexEntry = [...sb.aws.s3.objects.keys()].find((k) => k.includes('/index/') && k.includes(ids[1])) as string;
    sb.aws.s3.objects.delete(indexEntry);
    const r = await list({});
    expect(r.body.items.map((i) => i.requestId)).toEqual([ids[0], ids[2], ids[3]]);
    expect(r.body.unarchived?.map((i) => [i.requestId, i.status])).toEqual([[ids[1], 'SUCCEEDED']]);
  });

  it('a date alone as "to" includes that whole day', async () => {
    const { ids } = await history();
    const day = new Date().toISOString().slice(0, 10);
    expect((await list({ from: day, to: day })).body.items.map((i) => i.requestId)).toEqual(ids);
  });

  it('finds an offboarding by the principal whose grant it removed, when the request named none', async () => {
    const name = uniqueName('Holder');
    const principalArn = sb.aws.iam.addRole(name);
    await runRequest('POST /access-requests', { principalArn, target: 'orders' });
    const off = await runRequest('POST /revocations', { dbUser: name, target: 'orders' });
    const found = (await list({ principalArn, status: 'SUCCEEDED' })).body.items.map((i) => i.requestId);
    expect(found).toContain(off);
    expect(found).toHaveLength(2);
  });

  it('shows runs still going (from Step Functions) on the first page', async () => {
    const requestId = uniqueName('RUN');
    const principalArn = sb.aws.iam.addRole(uniqueName('Runner'));
    // A run that has not ended, as Step Functions holds it.
    sb.runner.executions.set(`onboard/${requestId}`, {
      name: requestId,
      stateMachine: 'onboard',
      status: 'RUNNING',
      input: { requestId, principalArn, target: 'ledger', dbUser: 'x', requestedBy: ADMIN },
      startDate: new Date(),
      events: [],
      taskOutputs: [],
    });
    const r = await list({ target: 'ledger' });
    expect(r.body.items).toEqual([]);
    expect(r.body.running?.map((i) => [i.requestId, i.status, i.requestedBy])).toEqual([[requestId, 'RUNNING', ADMIN]]);
  });

  it('refuses malformed filters and cursors (400 naming them) and non-auditors (403)', async () => {
    for (const [query, field] of [
      [{ status: 'DONE' }, 'status'],
      [{ from: 'yesterday' }, 'from'],
      [{ from: '2026-02-01', to: '2026-01-01' }, 'from'],
      [{ limit: '0' }, 'limit'],
      [{ cursor: 'bm9wZQ' }, 'cursor'],
      [{ principalArn: 'alice' }, 'principalArn'],
      [{ user: 'alice' }, 'user'],
    ] as Array<[Record<string, string>, string]>) {
      const r = await list(query);
      expect(r.status, field).toBe(400);
      expect(r.body.message).toContain(field);
    }
    expect((await list({}, `arn:aws:sts::${ACCOUNT}:assumed-role/developer/x`)).status).toBe(403);
  });
});

describe('two runs under one request id (Step Functions forgot the first, or local mode restarted)', () => {
  /** Sends a request with this id and waits until it ended and was archived. */
  const send = async (routeKey: string, body: object): Promise<void> => {
    const r = await api(routeKey, ADMIN, { body });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await sb.runner.idle();
    await Promise.all(sfn.deliveries);
  };
  const archivedUnder = (kind: string, name: string): string[] =>
    [...sb.aws.s3.objects.keys()].filter((k) => k.startsWith(`${BUCKET}/executions/${kind}/${name}/`)).sort();
  const listed = async (query: Record<string, string>) => {
    const e = event('GET /audit', AUDITOR);
    e.queryStringParameters = query;
    return JSON.parse((await handleApiEvent(e, deps)).body) as { items: AuditRecord[] };
  };

  it('both are archived, /audit lists both, /audit/{requestId} answers the latest with the earlier one complete', async () => {
    const name = uniqueName('Twice');
    const principalArn = sb.aws.iam.addRole(name);
    const requestId = uniqueName('AUD');
    const body = { requestId, principalArn, target: 'orders' };
    await send('POST /access-requests', body);
    const first = await audit(requestId);
    expect(first.output).toMatchObject({ dbUserOutcome: 'created' });

    // 90 days later Step Functions has forgotten it, and the same request id starts a new run.
    sfn.expire('onboard', requestId);
    await send('POST /access-requests', body);
    expect(archivedUnder('onboarding', requestId)).toHaveLength(2);

    const record = await audit(requestId);
    expect(record).toMatchObject({ requestId, status: 'SUCCEEDED', source: 'stepfunctions', output: { dbUserOutcome: 'already present' } });
    expect(record.startedAt > first.startedAt).toBe(true);
    expect(record.earlierRuns).toEqual([{ ...first, source: 'archive' }]);
    expect(record.earlierRuns?.[0].steps.map((st) => st.name)).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'CreateDbUser', 'AllowConnect', 'Done']);

    const items = (await listed({ dbUser: name })).items;
    expect(items.map((i) => [i.requestId, i.startedAt])).toEqual([
      [requestId, first.startedAt],
      [requestId, record.startedAt],
    ]);

    // Once the second run is forgotten too, the archive alone answers the same.
    sfn.expire('onboard', requestId);
    const archived = await audit(requestId);
    expect(archived).toEqual({ ...record, source: 'archive' });
  });

  it("each run keeps its own attempts: retries of the first run are not the second run's", async () => {
    const name = uniqueName('Crowded');
    const principalArn = sb.aws.iam.addRole(name);
    // IAM's attached-policy quota is full: the first run and its retry fail at AllowConnect.
    const foreign = Array.from({ length: 10 }, (_, p) =>
      sb.aws.iam.attachForeignPolicy('role', name, `${name}-other-${p}`, { Version: '2012-10-17', Statement: [] }),
    );
    const requestId = uniqueName('AUD');
    const body = { requestId, principalArn, target: 'orders' };
    await send('POST /access-requests', body);
    expect((await api('POST /requests/{requestId}/retry', ADMIN, { requestId })).status).toBe(202);
    await sb.runner.idle();
    await Promise.all(sfn.deliveries);
    sfn.expire('onboard', requestId);
    sfn.expire('onboard', `${requestId}.2`);

    await new IAMClient({}).send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: foreign[0] }));
    await send('POST /access-requests', body);
    const record = await audit(requestId);
    expect(record.attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 'SUCCEEDED']]);
    expect(new Set(record.steps.map((st) => st.attempt))).toEqual(new Set([1]));
    expect(record.earlierRuns?.map((r) => r.attempts.map((a) => [a.attempt, a.status, a.error?.code]))).toEqual([
      [
        [1, 'FAILED', 'GrantLimitReached'],
        [2, 'FAILED', 'GrantLimitReached'],
      ],
    ]);
  });

  it(
    "an attempt of the earlier run Step Functions still has is not the new run's: " +
      'GET /requests leaves it out, a retry that would need its name is refused',
    async () => {
      const name = uniqueName('Stale');
      const principalArn = sb.aws.iam.addRole(name);
      // IAM's attached-policy quota is full: every run and retry fails at AllowConnect.
      for (let p = 0; p < 10; p++) sb.aws.iam.attachForeignPolicy('role', name, `${name}-other-${p}`, { Version: '2012-10-17', Statement: [] });
      const requestId = uniqueName('AUD');
      const body = { requestId, principalArn, target: 'orders' };
      await send('POST /access-requests', body);
      expect((await api('POST /requests/{requestId}/retry', ADMIN, { requestId })).status).toBe(202);
      await sb.runner.idle();
      await Promise.all(sfn.deliveries);
      // The first attempt ended first, so Step Functions forgets it first; its retry is still there.
      sfn.expire('onboard', requestId);
      await send('POST /access-requests', body);

      const now = await api('GET /requests/{requestId}', ADMIN, { requestId });
      expect(now.body).toMatchObject({ requestId, attempt: 1, status: 'FAILED', attempts: [{ attempt: 1, status: 'FAILED' }] });
      expect((now.body as { attempts: unknown[] }).attempts).toHaveLength(1);
      const retry = await api('POST /requests/{requestId}/retry', ADMIN, { requestId });
      expect(retry.status).toBe(409);
      expect(retry.body).toMatchObject({ error: 'RequestConflict', details: { requestId, attempt: 2 } });
      expect(retry.body.message).toContain(`Step Functions still holds execution "${requestId}.2" of an earlier run of this request id`);
      expect([...sb.runner.executions.keys()].filter((k) => k.startsWith(`onboard/${requestId}`)).sort()).toEqual([
        `onboard/${requestId}`,
        `onboard/${requestId}.2`,
      ]);
      // Both runs stay in the audit, each with its own attempts.
      const record = await audit(requestId);
      expect(record.attempts.map((a) => a.attempt)).toEqual([1]);
      expect(record.earlierRuns?.map((r) => r.attempts.map((a) => a.attempt))).toEqual([[1, 2]]);
    },
  );

  it('local mode restarted on the same archive folder: the run before the restart stays readable beside the new one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'archive-'));
    try {
      sb.aws.s3.directory = dir;
      const name = uniqueName('Restart');
      const principalArn = sb.aws.iam.addRole(name);
      const requestId = uniqueName('AUD');
      const body = { requestId, principalArn, target: 'orders' };
      await send('POST /access-requests', body);
      const before = await audit(requestId);

      // A restart: Step Functions (the interpreter) and the in-memory objects are new; the folder is the same.
      await stack.stop();
      stack = startApiStack('audit');
      ({ sb, sfn, deps } = stack);
      sb.aws.s3.directory = dir;
      sb.aws.iam.addRole(name);

      await send('POST /access-requests', body);
      const after = await audit(requestId);
      expect(after.startedAt > before.startedAt).toBe(true);
      expect(after.earlierRuns).toEqual([{ ...before, source: 'archive' }]);
      expect(readdirSync(join(dir, BUCKET, 'executions', 'onboarding', requestId))).toHaveLength(2);
      expect((await listed({ dbUser: name })).items.map((i) => i.startedAt)).toEqual([before.startedAt, after.startedAt]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a repeated delivery of a run's end (EventBridge and Lambda retry) writes nothing: the archive is written only if absent", async () => {
    const delivered: unknown[] = [];
    sfn.onExecutionEnd = (e) => {
      delivered.push(e);
      return archiveHandler(e as never);
    };
    const requestId = await runRequest('POST /access-requests', { principalArn: sb.aws.iam.addRole(uniqueName('AuditRole')), target: 'orders' });
    const [key] = archivedUnder('onboarding', requestId);
    const held = sb.aws.s3.objects.get(key);
    await expect(archiveHandler(delivered[0] as never)).resolves.toMatchObject({ requestId, written: false });
    expect(sb.aws.s3.objects.get(key)).toBe(held);
    expect(archivedUnder('onboarding', requestId)).toEqual([key]);
    // What makes it so: S3 (here its simulation) refuses a conditional write to a key that exists.
    await expect(
      deps.archive.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key.slice(BUCKET.length + 1), Body: '{}', IfNoneMatch: '*' })),
    ).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
  });

  it('a document archived by an earlier version (executions/KIND/ID.json) is still read', async () => {
    const requestId = await runRequest('POST /access-requests', { principalArn: sb.aws.iam.addRole(uniqueName('AuditRole')), target: 'orders' });
    const live = await audit(requestId);
    const [key] = archivedUnder('onboarding', requestId);
    const doc = sb.aws.s3.objects.get(key);
    sb.aws.s3.objects.delete(key);
    if (doc) sb.aws.s3.objects.set(`${BUCKET}/executions/onboarding/${requestId}.json`, doc);
    sfn.expire('onboard', requestId);
    expect(await audit(requestId)).toEqual({ ...live, source: 'archive' });
  });
});

describe('the archive function', () => {
  it('refuses events that are not Step Functions status changes of this stack (they go to its retry / dead-letter path)', async () => {
    await expect(archiveHandler({ source: 'aws.ec2', 'detail-type': 'x', detail: {} } as never)).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(
      archiveHandler({
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        detail: { stateMachineArn: 'arn:aws:states:eu-west-1:1:stateMachine:other', name: 'x' },
      } as never),
    ).rejects.toMatchObject({ name: 'ValidationError' });
  });
});

describe('nothing secret in history, archive or logs', () => {
  it('a full run leaves no password or token in the archive, the audit record or the JSON logs', async () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk));
      return true;
    });
    logger.setLogLevel('DEBUG');
    try {
      const name = uniqueName('Secretive');
      const principalArn = sb.aws.iam.addRole(name);
      const on = await runRequest('POST /access-requests', { principalArn, target: 'orders', databases: ['app'] });
      const off = await runRequest('POST /revocations', { dbUser: name, target: 'orders' });
      const documents = [...sb.aws.s3.objects.values()].map((o) => o.body);
      expect(documents.length).toBeGreaterThanOrEqual(2);
      const everything = [...documents, JSON.stringify(await audit(on)), JSON.stringify(await audit(off)), ...lines].join('\n');
      expect(lines.length, 'the run logged nothing: the check would be vacuous').toBeGreaterThan(5);
      expect(everything).toContain(name);
      expect(everything).not.toContain(testPg().masterPassword);
      expect(everything).not.toContain(testPg().superPassword);
      expect(everything).not.toMatch(/X-Amz-Signature|Action=connect&DBUser/);
    } finally {
      logger.setLogLevel('SILENT');
      write.mockRestore();
    }
  });

  it('redactSecrets replaces values under secret-sounding keys, also inside the JSON strings of history events', () => {
    const doc = {
      input: JSON.stringify({ password: 'hunter2', secretArn: 'arn:aws:secretsmanager:x', nested: { authToken: 't' } }),
      ok: 'kept',
      masterPassword: 'p',
    };
    const out = redactSecrets(doc);
    expect(out.ok).toBe('kept');
    expect(out.masterPassword).toBe('[redacted]');
    expect(JSON.parse(out.input)).toEqual({ password: '[redacted]', secretArn: 'arn:aws:secretsmanager:x', nested: { authToken: '[redacted]' } });
    expect(redactSecrets({ input: '{"a":1}' }).input).toBe('{"a":1}');
  });
});
