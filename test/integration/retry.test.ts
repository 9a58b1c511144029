/**
 * POST /requests/{requestId}/retry (issue 11 item 6): a request that ended FAILED, TIMED_OUT or ABORTED runs again
 * as its next attempt, authorised and validated as if sent now. End to end through the real `api` handler, the
 * real workflows (local ASL interpreter behind the Step Functions simulation at the SDK boundary), a real
 * PostgreSQL, and the archive function; the refusals against Step Functions answers mocked at the SDK boundary.
 */
import { DetachRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptName, attemptOf } from '../../functions/lib/api/attempts';
import { selfServiceNamespace } from '../../functions/lib/api/request-ids';
import { type ApiDeps, handleApiEvent } from '../../functions/lib/api/routes';
import type { AuditPage } from '../../functions/lib/audit/query';
import type { AuditRecord } from '../../functions/lib/audit/trail';
import type { Config } from '../../functions/lib/core/config';
import { MAX_ATTEMPTS, REQUEST_ID_PATTERN } from '../../functions/lib/core/requests';
import { toHttpEvent } from '../../dev/http-api';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { answerTasksOf, type SimulatedStepFunctions } from '../../dev/simulated-services';
import { ACCOUNT, type ApiStack, apiDepsOf, BUCKET, startApiStack } from '../support/api-stack';
import { ADMIN, type ApiAnswer, httpEvent, parse } from '../support/http-api';
import { roleFacts, superClient, testPg, uniqueName } from '../support/pg';

const AUDITOR = `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/kim`;
const sessionOf = (role: string): string => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${role}-session`;

let sb: Sandbox;

describe('attempt names', () => {
  it('are valid execution names, never a request id, and distinct for every request and attempt, also for ids of 80 characters', () => {
    const ids = ['REQ-1', 'REQ-1-2', 'a'.repeat(77), 'a'.repeat(78), `${'a'.repeat(79)}b`, `${'a'.repeat(79)}c`, 'idp-okta-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d'];
    const names = ids.flatMap((id) => Array.from({ length: MAX_ATTEMPTS }, (_, i) => attemptName(id, i + 1)));
    expect(new Set(names).size).toBe(names.length);
    for (const id of ids) {
      expect(attemptName(id, 1)).toBe(id);
      for (let n = 2; n <= MAX_ATTEMPTS; n++) {
        const name = attemptName(id, n);
        // Step Functions: at most 80 characters, none of its special characters; a dot is allowed.
        expect(name.length, name).toBeLessThanOrEqual(80);
        expect(name).toMatch(/^[A-Za-z0-9_.-]+$/);
        expect(REQUEST_ID_PATTERN.test(name), name).toBe(false);
        expect(attemptOf(name, { requestId: id, attempt: n })).toEqual({ requestId: id, attempt: n });
      }
    }
    // An input claiming an attempt its execution's name does not carry is not believed.
    expect(attemptOf('REQ-1.3', { requestId: 'REQ-1', attempt: 2 })).toEqual({ requestId: 'REQ-1.3', attempt: 1 });
    expect(attemptOf('OTHER', { requestId: 'REQ-1', attempt: 2 })).toEqual({ requestId: 'OTHER', attempt: 1 });
  });
});

describe('local mode', () => {
  it('routes POST /requests/{id}/retry to the retry route, with the id as its path parameter', () => {
    const e = toHttpEvent({ method: 'POST', url: '/requests/REQ-7/retry', headers: {}, body: '' }, ADMIN);
    expect({ routeKey: e.routeKey, pathParameters: e.pathParameters }).toEqual({
      routeKey: 'POST /requests/{requestId}/retry',
      pathParameters: { requestId: 'REQ-7' },
    });
    expect(toHttpEvent({ method: 'GET', url: '/requests/REQ-7/retry', headers: {}, body: '' }, ADMIN).routeKey).toBe('$default');
  });
});

describe('retrying through the API runs the real workflow again and finishes the request', () => {
  let stack: ApiStack;
  let sfn: SimulatedStepFunctions;
  let deps: ApiDeps;

  beforeEach(() => {
    stack = startApiStack('retry');
    ({ sb, sfn, deps } = stack);
  });
  afterEach(() => stack.stop());

  const call = async (
    routeKey: string,
    opts: { caller?: string; body?: unknown; requestId?: string; query?: Record<string, string> } = {},
  ): Promise<ApiAnswer> =>
    parse(
      await handleApiEvent(
        httpEvent({
          routeKey,
          caller: opts.caller ?? ADMIN,
          body: opts.body,
          query: opts.query,
          ...(opts.requestId ? { pathParameters: { requestId: opts.requestId } } : {}),
        }),
        deps,
      ),
    );
  const retry = (requestId: string, caller = ADMIN, body?: unknown) => call('POST /requests/{requestId}/retry', { caller, requestId, body });
  const get = (requestId: string, caller = ADMIN) => call('GET /requests/{requestId}', { caller, requestId });
  /** Until every run started so far ended and was archived. */
  const settled = () => stack.settled();
  /** The steps' configuration (the API's stays sb.config). */
  const stepsConfig = (reassignment: Partial<Config['targets'][string]['reassignment']>) => {
    const orders = sb.config.targets.orders;
    process.env.TARGETS_CONFIG = JSON.stringify({
      ...sb.config,
      targets: { ...sb.config.targets, orders: { ...orders, reassignment: { ...orders.reassignment, ...reassignment } } },
    });
  };
  /** A role whose attached-policy quota is full: its onboardings fail at AllowConnect (after CreateDbUser, compensated). */
  const crowded = (name: string): string => {
    const principalArn = sb.aws.iam.addRole(name);
    for (let p = 0; p < 10; p++) sb.aws.iam.attachForeignPolicy('role', name, `${name}-other-${p}`, { Version: '2012-10-17', Statement: [] });
    return principalArn;
  };
  const onboarded = async (principalArn: string) => {
    const r = await call('POST /access-requests', { body: { requestId: uniqueName('ON'), principalArn, target: 'orders' } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await settled();
    expect((await get(r.body.requestId as string)).body.status).toBe('SUCCEEDED');
  };

  it(
    'a failed offboarding (blocked, grant removed, refused at RetireDbUser), fixed and retried: ' +
      'attempt 2 drops the user; GET and the audit show both attempts',
    async () => {
      const name = uniqueName('Leaver');
      const principalArn = sb.aws.iam.addRole(name);
      await onboarded(principalArn);
      expect(sb.aws.iam.connectGrants('role', name)).toHaveLength(1);
      // The leaver owns a view: with unsafeObjects "refuse" the retire step refuses to hand it over, and the run fails.
      const sup = await superClient('app');
      const schema = `s_${name.toLowerCase()}`;
      await sup.query(`CREATE SCHEMA ${schema} AUTHORIZATION "${name}"`);
      await sup.query(`CREATE VIEW ${schema}.v AS SELECT 1 AS one`);
      await sup.query(`ALTER VIEW ${schema}.v OWNER TO "${name}"`);
      await sup.end();
      stepsConfig({ unsafeObjects: 'refuse' });

      const requestId = uniqueName('OFF');
      expect((await call('POST /revocations', { body: { requestId, dbUser: name, target: 'orders', principalArn, reason: 'HR-1' } })).status).toBe(202);
      await settled();
      const failed = await get(requestId);
      expect(failed.body).toMatchObject({ status: 'FAILED', attempt: 1, error: { code: 'ReassignmentRefused' } });
      // What the failed run left: the user blocked and without its grant, but not dropped.
      expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: false });
      expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
      // Sending it again is a replay that says how to finish it.
      const replay = await call('POST /revocations', { body: { requestId, dbUser: name, target: 'orders', principalArn, reason: 'HR-1' } });
      expect(replay.status).toBe(200);
      expect(replay.body.hint).toContain(`POST /requests/${requestId}/retry`);

      stepsConfig({ unsafeObjects: 'quarantine' });
      const r = await retry(requestId);
      expect(r, JSON.stringify(r.body)).toMatchObject({
        status: 202,
        body: { requestId, kind: 'offboarding', attempt: 2, status: 'RUNNING', location: `/requests/${requestId}` },
      });
      await settled();
      const run = sb.runner.find('offboard', `${requestId}.2`);
      expect(run?.status, `${run?.error}: ${run?.cause}`).toBe('SUCCEEDED');
      // The same request, run again: its input, the attempt number and who retried it.
      expect(run?.input).toMatchObject({ requestId, dbUser: name, principalArn, reason: 'HR-1', requestedBy: ADMIN, retriedBy: ADMIN, attempt: 2 });
      expect((await roleFacts(name)).exists).toBe(false);
      expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);

      const done = await get(requestId);
      expect(done.body).toMatchObject({ requestId, kind: 'offboarding', attempt: 2, status: 'SUCCEEDED' });
      expect((done.body.attempts as Array<Record<string, unknown>>).map((a) => [a.attempt, a.status])).toEqual([
        [1, 'FAILED'],
        [2, 'SUCCEEDED'],
      ]);
      expect(done.body).not.toHaveProperty('error');
      // Nothing left to retry.
      expect(await retry(requestId)).toMatchObject({ status: 409, body: { error: 'NothingToRetry' } });

      // The audit: one request, both attempts and all their steps; each attempt archived under its own key.
      const record = (await call('GET /audit/{requestId}', { caller: AUDITOR, requestId })).body as unknown as AuditRecord;
      expect(record).toMatchObject({ requestId, kind: 'offboarding', attempt: 2, status: 'SUCCEEDED', retriedBy: ADMIN, source: 'stepfunctions' });
      expect(record.attempts.map((a) => [a.attempt, a.status, a.error?.code])).toEqual([
        [1, 'FAILED', 'ReassignmentRefused'],
        [2, 'SUCCEEDED', undefined],
      ]);
      expect(record.steps.filter((s) => s.name === 'RetireDbUser').map((s) => [s.attempt, s.error?.code])).toEqual([
        [1, 'ReassignmentRefused'],
        [2, undefined],
      ]);
      for (const key of [requestId, `${requestId}.2`])
        expect(
          [...sb.aws.s3.objects.keys()].filter((k) => k.startsWith(`${BUCKET}/executions/offboarding/${key}/`)),
          key,
        ).toHaveLength(1);
      const listed = (await call('GET /audit', { caller: AUDITOR, query: { dbUser: name } })).body as unknown as AuditPage;
      expect(listed.items.filter((i) => i.kind === 'offboarding').map((i) => [i.requestId, i.attempt, i.status])).toEqual([
        [requestId, 1, 'FAILED'],
        [requestId, 2, 'SUCCEEDED'],
      ]);
      // Once Step Functions forgets both runs, the archive tells the same.
      sfn.expire('offboard', requestId);
      sfn.expire('offboard', `${requestId}.2`);
      const archived = (await call('GET /audit/{requestId}', { caller: AUDITOR, requestId })).body as unknown as AuditRecord;
      expect({ ...archived, source: 'stepfunctions' }).toEqual(record);
    },
  );

  it(
    'a failed onboarding (the grant could not be attached, the new user rolled back), fixed and retried: ' + 'attempt 2 ends with the user and its grant',
    async () => {
      const name = uniqueName('Crowded');
      const principalArn = sb.aws.iam.addRole(name);
      // IAM's attached-policy quota is full: AllowConnect fails, compensation drops the user it created.
      const foreign = Array.from({ length: 10 }, (_, p) =>
        sb.aws.iam.attachForeignPolicy('role', name, `${name}-other-${p}`, { Version: '2012-10-17', Statement: [] }),
      );
      const requestId = uniqueName('ON');
      expect((await call('POST /access-requests', { body: { requestId, principalArn, target: 'orders', dbRoles: ['app_read'] } })).status).toBe(202);
      await settled();
      expect((await get(requestId)).body).toMatchObject({ status: 'FAILED', error: { code: 'GrantLimitReached' } });
      expect((await roleFacts(name)).exists).toBe(false);

      await new IAMClient({}).send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: foreign[0] }));
      expect((await retry(requestId)).status).toBe(202);
      await settled();
      const done = await get(requestId);
      expect(done.body, JSON.stringify(done.body)).toMatchObject({ attempt: 2, status: 'SUCCEEDED' });
      expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: true, memberOf: expect.arrayContaining(['app_read', 'rds_iam']) });
      expect(sb.aws.iam.connectGrants('role', name)).toHaveLength(1);
    },
  );

  it(
    'retries sent at once start one attempt: one 202, the others 200 with that attempt; ' + 'a resent {attempt} starts nothing; the next retry is attempt 3',
    async () => {
      const principalArn = crowded(uniqueName('Burst'));
      const requestId = uniqueName('ON');
      // IAM's attached-policy quota is full: every attempt fails at AllowConnect (and compensates), quickly.
      expect((await call('POST /access-requests', { body: { requestId, principalArn, target: 'orders' } })).status).toBe(202);
      await settled();
      const answers = await Promise.all(Array.from({ length: 4 }, () => retry(requestId)));
      expect(answers.map((a) => a.status).sort(), JSON.stringify(answers.map((a) => a.body))).toEqual([200, 200, 200, 202]);
      for (const a of answers) expect(a.body.attempt).toBe(2);
      await settled();
      expect(
        [...sb.runner.executions.values()]
          .filter((r) => r.name.startsWith(requestId))
          .map((r) => r.name)
          .sort(),
      ).toEqual([requestId, `${requestId}.2`]);

      const resent = await retry(requestId, ADMIN, { attempt: 2 });
      expect(resent).toMatchObject({ status: 200, body: { attempt: 2, status: 'FAILED' } });
      expect(await retry(requestId, ADMIN, { attempt: 4 })).toMatchObject({ status: 409, body: { error: 'RequestConflict' } });
      expect(sb.runner.find('onboard', `${requestId}.3`)).toBeUndefined();
      expect(await retry(requestId, ADMIN, { attempt: 3 })).toMatchObject({ status: 202, body: { attempt: 3 } });
      await settled();
      expect((await get(requestId)).body.attempts).toHaveLength(3);
    },
  );

  it(
    'self-service: a caller retries its own request; another caller gets 404; ' + "an administrator's request for the caller is not its to retry (403)",
    async () => {
      const alice = uniqueName('alice');
      // Her runs fail (IAM's attached-policy quota is full), so there is something to retry.
      const aliceRole = crowded(alice);
      const own = await call('POST /access-requests', { caller: sessionOf(alice), body: { requestId: 'T1', principalArn: aliceRole, target: 'orders' } });
      expect(own.status).toBe(202);
      const ownId = own.body.requestId as string;
      expect(ownId).toBe(`${selfServiceNamespace(aliceRole)}T1`);
      const byAdmin = uniqueName('ADM');
      expect((await call('POST /access-requests', { body: { requestId: byAdmin, principalArn: aliceRole, target: 'orders' } })).status).toBe(202);
      await settled();

      const bob = uniqueName('bob');
      sb.aws.iam.addRole(bob);
      const foreign = await retry(ownId, sessionOf(bob));
      const unknown = await retry(`${ownId}X`, sessionOf(bob));
      expect(foreign).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
      expect(foreign.body.message).toBe((unknown.body.message as string).replace(`${ownId}X`, ownId));
      // alice may read the administrator's request (it is for her principal) but not run it again.
      expect((await get(byAdmin, sessionOf(alice))).status).toBe(200);
      expect(await retry(byAdmin, sessionOf(alice))).toMatchObject({ status: 403, body: { error: 'NotAuthorized', details: { reason: 'not own request' } } });

      const mine = await retry(ownId, sessionOf(alice));
      expect(mine, JSON.stringify(mine.body)).toMatchObject({ status: 202, body: { requestId: ownId, attempt: 2 } });
      await settled();
      expect(sb.runner.find('onboard', `${ownId}.2`)?.input).toMatchObject({
        requireOwner: aliceRole,
        requestedBy: sessionOf(alice),
        retriedBy: sessionOf(alice),
        attempt: 2,
      });
      expect([...sb.runner.executions.keys()].filter((k) => k.includes(byAdmin))).toEqual([`onboard/${byAdmin}`]);
    },
  );
});

describe('what a retry refuses, and what it sends (Step Functions answers mocked at the SDK boundary)', () => {
  const ONBOARD_SM = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-onboard`;
  const OFFBOARD_SM = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-offboard`;
  let sfn: AwsClientStub<SFNClient>;
  beforeEach(() => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
    sfn = mockClient(SFNClient);
    // The database limiter's consumer answers its waiting state through SFNClient: this mock must pass that on.
    answerTasksOf(sfn, sb.runner);
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    sfn.on(StartExecutionCommand).callsFake(async (i: { stateMachineArn: string; name: string }) => ({
      executionArn: `${i.stateMachineArn}:${i.name}`,
      startDate: new Date(),
      $metadata: {},
    }));
  });
  afterEach(() => {
    sfn.restore();
    sb.restore();
  });
  const retry = async (requestId: string, opts: { caller?: string; config?: Config; body?: unknown } = {}) =>
    parse(
      await handleApiEvent(
        httpEvent({ routeKey: 'POST /requests/{requestId}/retry', caller: opts.caller ?? ADMIN, body: opts.body, pathParameters: { requestId } }),
        apiDepsOf(opts.config ?? sb.config, { onboarding: ONBOARD_SM, offboarding: OFFBOARD_SM }),
      ),
    );
  const execution = (machine: string, name: string, input: object, extra: Partial<DescribeExecutionCommandOutput>): void => {
    const executionArn = `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
    sfn.on(DescribeExecutionCommand, { executionArn }).resolves({
      executionArn,
      stateMachineArn: machine,
      name,
      status: 'FAILED',
      startDate: new Date('2026-11-23T09:00:00Z'),
      input: JSON.stringify(input),
      $metadata: {},
      ...extra,
    });
  };
  const started = () =>
    sfn
      .commandCalls(StartExecutionCommand)
      .map((c) => ({ name: c.args[0].input.name, input: JSON.parse(c.args[0].input.input ?? '{}') as Record<string, unknown> }));
  const onboarding = (requestId: string, extra: object = {}) => ({
    requestId,
    principalArn: `arn:aws:iam::${ACCOUNT}:role/alice`,
    dbUser: 'alice',
    target: 'orders',
    dbRoles: ['app_read'],
    databases: [],
    requestedBy: ADMIN,
    ...extra,
  });

  it('a running request: 409 RequestRunning, naming where it is; a succeeded one: 409 NothingToRetry; an unknown one: 404; nothing starts', async () => {
    execution(ONBOARD_SM, 'R-RUN', onboarding('R-RUN'), { status: 'RUNNING' });
    execution(ONBOARD_SM, 'R-OK', onboarding('R-OK'), { status: 'SUCCEEDED', stopDate: new Date() });
    const running = await retry('R-RUN');
    expect(running).toMatchObject({
      status: 409,
      body: { error: 'RequestRunning', details: { requestId: 'R-RUN', attempt: 1, status: 'RUNNING', location: '/requests/R-RUN' } },
    });
    expect(running.body.message).toContain('GET /requests/R-RUN');
    expect(await retry('R-OK')).toMatchObject({ status: 409, body: { error: 'NothingToRetry' } });
    expect(await retry('R-NONE')).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
    // An attempt's name is not a request id: it is refused as one.
    expect(await retry('R-OK.2')).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field: 'requestId' } } });
    expect(started()).toEqual([]);
  });

  it('TIMED_OUT and ABORTED are retried like FAILED, with the original input, the next attempt number and the retrying caller', async () => {
    execution(ONBOARD_SM, 'R-TO', onboarding('R-TO', { submissionId: '00000000-0000-4000-8000-000000000000' }), { status: 'TIMED_OUT', stopDate: new Date() });
    execution(OFFBOARD_SM, 'R-AB', { requestId: 'R-AB', dbUser: 'alice', target: 'orders', requestedBy: ADMIN }, { status: 'ABORTED', stopDate: new Date() });
    const caller = `arn:aws:sts::${ACCOUNT}:assumed-role/platform-admin/joe`;
    expect(await retry('R-TO', { caller })).toMatchObject({ status: 202, body: { kind: 'onboarding', attempt: 2 } });
    expect(await retry('R-AB', { caller })).toMatchObject({ status: 202, body: { kind: 'offboarding', attempt: 2 } });
    const [on, off] = started();
    expect(on).toEqual({
      name: 'R-TO.2',
      input: { ...onboarding('R-TO'), retriedBy: caller, attempt: 2, submissionId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    });
    expect(on.input.submissionId).not.toBe('00000000-0000-4000-8000-000000000000');
    expect(off).toMatchObject({
      name: 'R-AB.2',
      input: { requestId: 'R-AB', dbUser: 'alice', target: 'orders', requestedBy: ADMIN, retriedBy: caller, attempt: 2 },
    });
  });

  it(`at most ${MAX_ATTEMPTS} attempts: the next is refused with RetryLimitReached`, async () => {
    for (let n = 1; n <= MAX_ATTEMPTS; n++)
      execution(
        ONBOARD_SM,
        attemptName('R-MANY', n),
        { ...onboarding('R-MANY'), ...(n > 1 ? { attempt: n } : {}) },
        { status: 'FAILED', stopDate: new Date() },
      );
    const r = await retry('R-MANY');
    expect(r).toMatchObject({ status: 409, body: { error: 'RetryLimitReached', details: { requestId: 'R-MANY', attempts: MAX_ATTEMPTS } } });
    expect(r.body.message).toContain('new requestId');
    expect(started()).toEqual([]);
  });

  it("the request is validated against today's configuration: a role no longer allowed is refused with the usual error, nothing starts", async () => {
    execution(ONBOARD_SM, 'R-OLD', onboarding('R-OLD'), { status: 'FAILED', stopDate: new Date() });
    const today = structuredClone(sb.config);
    today.targets.orders.allowedDbRoles = today.targets.orders.allowedDbRoles.filter((r) => r !== 'app_read');
    const r = await retry('R-OLD', { config: today });
    expect(r).toMatchObject({ status: 403, body: { error: 'RoleNotAllowed', details: { field: 'dbRoles', role: 'app_read' } } });
    expect(started()).toEqual([]);
    // A target removed since: UnknownTarget.
    const { orders: _, ...others } = sb.config.targets;
    expect(await retry('R-OLD', { config: { ...sb.config, targets: others } })).toMatchObject({ status: 404, body: { error: 'UnknownTarget' } });
    expect(started()).toEqual([]);
  });

  it('a malformed body is refused naming the field; an empty one is fine', async () => {
    execution(ONBOARD_SM, 'R-B', onboarding('R-B'), { status: 'FAILED', stopDate: new Date() });
    expect(await retry('R-B', { body: { attempt: 1 } })).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field: 'attempt' } } });
    expect(await retry('R-B', { body: { attempt: '2' } })).toMatchObject({ status: 400, body: { details: { field: 'attempt' } } });
    expect(await retry('R-B', { body: { dbRoles: [] } })).toMatchObject({ status: 400, body: { details: { field: 'dbRoles' } } });
    expect(await retry('R-B', { body: [] })).toMatchObject({ status: 400, body: { details: { field: '(body)' } } });
    expect(started()).toEqual([]);
    expect(await retry('R-B', { body: {} })).toMatchObject({ status: 202, body: { attempt: 2 } });
  });

  it('identity-provider runs: an administrator retries them as they were (idpUser kept); self-service callers may not', async () => {
    const idpInput = {
      requestId: 'idp-okta-0a1b2c3d',
      principalArn: `arn:aws:iam::${ACCOUNT}:role/alice`,
      dbUser: 'alice',
      target: 'orders',
      dbRoles: [],
      databases: [],
      idpUser: 'okta:00u1',
      reason: 'okta group-membership-added (event e1)',
      requestedBy: 'idp:okta',
    };
    execution(ONBOARD_SM, 'idp-okta-0a1b2c3d', idpInput, { status: 'FAILED', stopDate: new Date() });
    // alice can read it (it is for her principal), not run it again.
    expect(await retry('idp-okta-0a1b2c3d', { caller: sessionOf('alice') })).toMatchObject({
      status: 403,
      body: { error: 'NotAuthorized', details: { reason: 'not own request' } },
    });
    expect(started()).toEqual([]);
    expect(await retry('idp-okta-0a1b2c3d')).toMatchObject({ status: 202, body: { attempt: 2 } });
    expect(started()).toEqual([{ name: 'idp-okta-0a1b2c3d.2', input: { ...idpInput, retriedBy: ADMIN, attempt: 2, submissionId: expect.any(String) } }]);
  });

  it('POST /access-requests and /revocations refuse attempt and retriedBy in the body', async () => {
    for (const [field, value] of [
      ['attempt', 2],
      ['retriedBy', ADMIN],
    ] as const) {
      const r = parse(
        await handleApiEvent(
          httpEvent({ routeKey: 'POST /access-requests', body: { principalArn: `arn:aws:iam::${ACCOUNT}:role/alice`, target: 'orders', [field]: value } }),
          apiDepsOf(sb.config, { onboarding: ONBOARD_SM, offboarding: OFFBOARD_SM }),
        ),
      );
      expect(r, field).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field } } });
    }
    expect(started()).toEqual([]);
  });
});
