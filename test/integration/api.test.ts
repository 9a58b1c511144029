/**
 * The `api` function: real API Gateway HTTP API events (payload format 2.0, IAM authorizer
 * context; test/fixtures/http-api-iam-event.json has the documented shape), Step Functions
 * mocked at the SDK boundary with aws-sdk-client-mock. Dry runs read a real PostgreSQL server
 * (the database half through the dbUserPlan function, invoked via the Lambda SDK).
 */
import { randomUUID } from 'node:crypto';
import { IAMClient } from '@aws-sdk/client-iam';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ModifyDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCallerArn } from '../../functions/lib/api/caller';
import { selfServiceNamespace } from '../../functions/lib/api/request-ids';
import { lambdaDatabasePlanner } from '../../functions/lib/api/plan-client';
import { type ApiDeps, handleApiEvent } from '../../functions/lib/api/routes';
import { targetAdmin } from '../../functions/lib/postgres/admin-session';
import { type Config, loadConfig, parseConfig, resolveTargetConfig } from '../../functions/lib/core/config';
import { describeTarget } from '../../functions/lib/rds/target';
import type { RequestPlan } from '../../functions/lib/workflows/request-plan';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, QUARANTINE_ROLE, type Sandbox } from '../../dev/sandbox';
import { SimulatedLambda, SimulatedStepFunctions } from '../../dev/simulated-services';
import { mockedStepFunctions } from '../support/api-stack';
import { ADMIN, type ApiAnswer, type EventSpec, httpEvent, parse } from '../support/http-api';
import { masterClient, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

const ACCOUNT = '123456789012';
const UUID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const ONBOARD_SM = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-onboard`;
const OFFBOARD_SM = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-offboard`;
const roleArn = (name: string): string => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const sessionOf = (role: string): string => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${role}-session`;
/** The execution name of a self-service request of role `role` with the id its client chose. */
const ownId = (role: string, id: string): string => `${selfServiceNamespace(roleArn(role))}${id}`;

let sb: Sandbox;
let sfn: AwsClientStub<SFNClient>;
let lambda: ReturnType<SimulatedLambda['install']>;
let generated: number;

const depsWith = (config: Config): ApiDeps => ({
  config,
  executions: { sfn: new SFNClient({ region: 'eu-west-1' }), stateMachines: { onboarding: ONBOARD_SM, offboarding: OFFBOARD_SM } },
  plan: {
    rds: (region) => new RDSClient({ region }),
    iam: new IAMClient({ region: 'us-east-1' }),
    limits: config.iam,
    database: lambdaDatabasePlanner(new LambdaClient({ region: 'eu-west-1' }), 'dbUserPlan'),
  },
  archive: { s3: new S3Client({ region: 'eu-west-1' }), bucket: 'rds-iam-access-test-archive' },
  newRequestId: () => `req-generated-${++generated}`,
});

const call = async (spec: EventSpec, config: Config = sb.config): Promise<ApiAnswer> => parse(await handleApiEvent(httpEvent(spec), depsWith(config)));

beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  sfn = mockedStepFunctions(sb);
  lambda = new SimulatedLambda(FUNCTIONS).install();
  generated = 0;
});
afterEach(() => {
  sfn.restore();
  lambda.restore();
  sb.restore();
});

const started = () =>
  sfn.commandCalls(StartExecutionCommand).map((c) => ({ ...c.args[0].input, input: JSON.parse(c.args[0].input.input ?? '{}') as Record<string, unknown> }));

/** A DescribeExecution answer for an existing execution. */
const existing = (machine: string, name: string, input: object, extra: Partial<DescribeExecutionCommandOutput> = {}): DescribeExecutionCommandOutput => ({
  executionArn: `${machine.replace(':stateMachine:', ':execution:')}:${name}`,
  stateMachineArn: machine,
  name,
  status: 'RUNNING',
  startDate: new Date('2026-11-23T09:00:00Z'),
  input: JSON.stringify(input),
  $metadata: {},
  ...extra,
});

describe('POST /access-requests', () => {
  it('starts the onboarding execution named by the request id, with the caller as requestedBy, and answers 202 without waiting', async () => {
    const caller = sessionOf('alice');
    const r = await call({
      routeKey: 'POST /access-requests',
      caller,
      body: { requestId: 'REQ-100', principalArn: roleArn('alice'), target: 'orders', dbRoles: ['app_read', 'app_read'], databases: ['app'], reason: 'OPS-1' },
    });
    expect(r.status).toBe(202);
    // Self-service: the id is put in the caller's own namespace, and the answer says which execution that is.
    const id = ownId('alice', 'REQ-100');
    expect(id).toMatch(/^self-[0-9a-f]{16}-REQ-100$/);
    expect(r.body).toEqual({ requestId: id, kind: 'onboarding', status: 'RUNNING', startedAt: expect.stringMatching(/^2\d{3}-/), location: `/requests/${id}` });
    expect(r.headers.location).toBe(`/requests/${id}`);
    expect(started()).toEqual([
      {
        stateMachineArn: ONBOARD_SM,
        name: id,
        // Canonical: the default database user filled in, roles de-duplicated, the caller from SigV4,
        // and (self-service) the principal whose database user alone this run may change.
        // submissionId: this call's own, so that of calls racing with one id exactly one starts the run.
        input: {
          requestId: id,
          principalArn: roleArn('alice'),
          dbUser: 'alice',
          target: 'orders',
          dbRoles: ['app_read'],
          databases: ['app'],
          reason: 'OPS-1',
          requireOwner: roleArn('alice'),
          requestedBy: caller,
          submissionId: UUID,
        },
      },
    ]);
  });

  it('generates a request id when none is given, and returns it', async () => {
    const r = await call({ routeKey: 'POST /access-requests', caller: sessionOf('alice'), body: { principalArn: roleArn('alice'), target: 'orders' } });
    expect(r.status).toBe(202);
    expect(r.body.requestId).toBe(ownId('alice', 'req-generated-1'));
    expect(started().map((s) => [s.name, s.input.requestId])).toEqual([[ownId('alice', 'req-generated-1'), ownId('alice', 'req-generated-1')]]);
    // An administrator's generated id is used as it is.
    expect((await call({ routeKey: 'POST /access-requests', body: { principalArn: roleArn('alice'), target: 'orders' } })).body.requestId).toBe(
      'req-generated-2',
    );
  });

  it('accepts a base64-encoded body, as API Gateway sends binary payloads', async () => {
    const e = httpEvent({ routeKey: 'POST /access-requests', caller: sessionOf('alice') });
    e.body = Buffer.from(JSON.stringify({ requestId: 'REQ-B64', principalArn: roleArn('alice'), target: 'orders' })).toString('base64');
    e.isBase64Encoded = true;
    expect(parse(await handleApiEvent(e, depsWith(sb.config))).status).toBe(202);
    expect(started().map((s) => s.name)).toEqual([ownId('alice', 'REQ-B64')]);
  });

  const alreadyExists = () => new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });
  const onboardExecution = (name: string) => ({ executionArn: `${ONBOARD_SM.replace(':stateMachine:', ':execution:')}:${name}` });

  it('a retry of a running request (same id, same request, its own submissionId): Step Functions refuses the start, the API answers 200', async () => {
    const id = ownId('alice', 'REQ-101');
    const input = {
      requestId: id,
      principalArn: roleArn('alice'),
      dbUser: 'alice',
      target: 'orders',
      dbRoles: [],
      databases: [],
      requireOwner: roleArn('alice'),
      requestedBy: sessionOf('alice'),
      submissionId: randomUUID(),
    };
    const original = existing(ONBOARD_SM, id, input);
    // StartExecution's documented answer to the same name with other input while running.
    sfn.on(StartExecutionCommand, { name: id }).rejects(alreadyExists());
    sfn.on(DescribeExecutionCommand, onboardExecution(id)).resolves(original);
    const r = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf('alice'),
      body: { requestId: 'REQ-101', principalArn: roleArn('alice'), target: 'orders' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      requestId: id,
      kind: 'onboarding',
      status: 'RUNNING',
      input,
      startedAt: '2026-11-23T09:00:00.000Z',
      location: `/requests/${id}`,
    });
  });

  it('the same id of a FAILED request answers 200 with that run and a hint naming the retry route; a SUCCEEDED one has no hint', async () => {
    const input = {
      requestId: 'REQ-FAILED',
      principalArn: roleArn('alice'),
      dbUser: 'alice',
      target: 'orders',
      dbRoles: [],
      databases: [],
      requestedBy: ADMIN,
    };
    sfn.on(StartExecutionCommand, { name: 'REQ-FAILED' }).rejects(alreadyExists());
    sfn
      .on(DescribeExecutionCommand, onboardExecution('REQ-FAILED'))
      .resolves(existing(ONBOARD_SM, 'REQ-FAILED', input, { status: 'FAILED', stopDate: new Date(), error: 'TransientDatabaseError', cause: 'lost' }));
    const r = await call({ routeKey: 'POST /access-requests', body: { requestId: 'REQ-FAILED', principalArn: roleArn('alice'), target: 'orders' } });
    expect(r).toMatchObject({ status: 200, body: { requestId: 'REQ-FAILED', status: 'FAILED' } });
    expect(String(r.body.hint)).toContain('POST /requests/REQ-FAILED/retry');
    sfn.on(StartExecutionCommand, { name: 'REQ-DONE' }).rejects(alreadyExists());
    sfn
      .on(DescribeExecutionCommand, onboardExecution('REQ-DONE'))
      .resolves(existing(ONBOARD_SM, 'REQ-DONE', { ...input, requestId: 'REQ-DONE' }, { status: 'SUCCEEDED', stopDate: new Date() }));
    const done = await call({ routeKey: 'POST /access-requests', body: { requestId: 'REQ-DONE', principalArn: roleArn('alice'), target: 'orders' } });
    expect(done.status).toBe(200);
    expect(done.body).not.toHaveProperty('hint');
  });

  it(
    'a replay from another session of the same principal, or of an ended request ' + '(ExecutionAlreadyExists), answers 200 with the existing request',
    async () => {
      const id = ownId('alice', 'REQ-102');
      const input = {
        requestId: id,
        principalArn: roleArn('alice'),
        dbUser: 'alice',
        target: 'orders',
        dbRoles: [],
        databases: [],
        requireOwner: roleArn('alice'),
        requestedBy: sessionOf('alice'),
      };
      sfn.on(StartExecutionCommand, { name: id }).rejects(alreadyExists());
      sfn.on(DescribeExecutionCommand, onboardExecution(id)).resolves(existing(ONBOARD_SM, id, input, { status: 'SUCCEEDED', stopDate: new Date() }));
      for (const caller of [sessionOf('alice'), `arn:aws:sts::${ACCOUNT}:assumed-role/alice/laptop`]) {
        const r = await call({ routeKey: 'POST /access-requests', caller, body: { requestId: 'REQ-102', principalArn: roleArn('alice'), target: 'orders' } });
        expect(r.status, caller).toBe(200);
        expect(r.body).toMatchObject({ requestId: id, status: 'SUCCEEDED', input });
      }
      // An administrator replays an administrator's request (ids as given).
      const adminInput = {
        requestId: 'REQ-102',
        principalArn: roleArn('alice'),
        dbUser: 'alice',
        target: 'orders',
        dbRoles: [],
        databases: [],
        requestedBy: ADMIN,
      };
      sfn.on(StartExecutionCommand, { name: 'REQ-102' }).rejects(alreadyExists());
      sfn
        .on(DescribeExecutionCommand, onboardExecution('REQ-102'))
        .resolves(existing(ONBOARD_SM, 'REQ-102', adminInput, { status: 'SUCCEEDED', stopDate: new Date() }));
      const r = await call({
        routeKey: 'POST /access-requests',
        caller: `arn:aws:sts::${ACCOUNT}:assumed-role/platform-admin/john`,
        body: { requestId: 'REQ-102', principalArn: roleArn('alice'), target: 'orders' },
      });
      expect(r).toMatchObject({ status: 200, body: { requestId: 'REQ-102', input: adminInput } });
    },
  );

  it('lists are canonical (sorted, de-duplicated), so a replay with roles in another order is the same request', async () => {
    await call({
      routeKey: 'POST /access-requests',
      body: {
        requestId: 'REQ-105',
        principalArn: roleArn('alice'),
        target: 'orders',
        dbRoles: ['app_write', 'app_read', 'app_write'],
        databases: ['app', 'postgres'],
      },
    });
    await call({
      routeKey: 'POST /access-requests',
      body: { requestId: 'REQ-106', principalArn: roleArn('alice'), target: 'orders', dbRoles: ['app_read', 'app_write'], databases: ['postgres', 'app'] },
    });
    const [a, b] = started().map((x) => x.input);
    expect(a.dbRoles).toEqual(['app_read', 'app_write']);
    expect({ ...a, requestId: '', submissionId: '' }).toEqual({ ...b, requestId: '', submissionId: '' });
  });

  it('the same request id for a different request, or for a revocation, is a 409 conflict', async () => {
    const input = {
      requestId: 'REQ-103',
      principalArn: roleArn('alice'),
      dbUser: 'alice',
      target: 'orders',
      dbRoles: ['app_read'],
      databases: [],
      requestedBy: ADMIN,
    };
    sfn.on(StartExecutionCommand, { name: 'REQ-103' }).rejects(alreadyExists());
    sfn.on(DescribeExecutionCommand, onboardExecution('REQ-103')).resolves(existing(ONBOARD_SM, 'REQ-103', input, { status: 'SUCCEEDED' }));
    const different = await call({
      routeKey: 'POST /access-requests',
      body: { requestId: 'REQ-103', principalArn: roleArn('alice'), target: 'orders', dbRoles: ['app_write'] },
    });
    expect(different.status).toBe(409);
    expect(different.body).toMatchObject({ error: 'RequestConflict' });
    expect(different.body.message).toContain('REQ-103');
    // The other kind is checked before anything is started.
    sfn.resetHistory();
    const asRevocation = await call({ routeKey: 'POST /revocations', body: { requestId: 'REQ-103', dbUser: 'alice', target: 'orders' } });
    expect(asRevocation.status).toBe(409);
    expect(asRevocation.body.error).toBe('RequestConflict');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('a throttled StartExecution is a retryable 503, not a 500', async () => {
    sfn.on(StartExecutionCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    const r = await call({ routeKey: 'POST /access-requests', body: { requestId: 'REQ-104', principalArn: roleArn('alice'), target: 'orders' } });
    expect(r.status).toBe(503);
    expect(r.body.error).toBe('TransientAwsError');
  });
});

describe('POST /revocations', () => {
  it('starts the offboarding execution; principalArn is optional', async () => {
    const r = await call({ routeKey: 'POST /revocations', body: { requestId: 'REQ-200', dbUser: 'alice', target: 'orders', reason: 'left the team' } });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ requestId: 'REQ-200', kind: 'offboarding', status: 'RUNNING' });
    expect(started()).toEqual([
      {
        stateMachineArn: OFFBOARD_SM,
        name: 'REQ-200',
        input: { requestId: 'REQ-200', dbUser: 'alice', target: 'orders', reason: 'left the team', requestedBy: ADMIN, submissionId: UUID },
      },
    ]);
  });
});

describe('GET /requests/{requestId}', () => {
  const get = (requestId: string, caller: string | null = ADMIN) => call({ routeKey: 'GET /requests/{requestId}', caller, pathParameters: { requestId } });
  const execArn = (machine: string, name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;

  it('answers kind, status, input, output and start/stop times of a finished onboarding', async () => {
    const input = { requestId: 'REQ-300', principalArn: roleArn('alice'), target: 'orders' };
    sfn.on(DescribeExecutionCommand, { executionArn: execArn(ONBOARD_SM, 'REQ-300') }).resolves(
      existing(ONBOARD_SM, 'REQ-300', input, {
        status: 'SUCCEEDED',
        stopDate: new Date('2026-11-23T09:00:07Z'),
        output: JSON.stringify({ dbUserOutcome: 'created' }),
      }),
    );
    const r = await get('REQ-300');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      requestId: 'REQ-300',
      kind: 'onboarding',
      attempt: 1,
      status: 'SUCCEEDED',
      outcome: 'created',
      input,
      output: { dbUserOutcome: 'created' },
      startedAt: '2026-11-23T09:00:00.000Z',
      stoppedAt: '2026-11-23T09:00:07.000Z',
      attempts: [{ attempt: 1, status: 'SUCCEEDED', startedAt: '2026-11-23T09:00:00.000Z', stoppedAt: '2026-11-23T09:00:07.000Z' }],
    });
  });

  it('answers the error code and message of a failed offboarding (a Lambda error cause is unwrapped)', async () => {
    const cause = JSON.stringify({ errorType: 'UnmanagedRoleConflict', errorMessage: 'database role "bob" was not created by this project', trace: ['at x'] });
    sfn
      .on(DescribeExecutionCommand, { executionArn: execArn(OFFBOARD_SM, 'REQ-301') })
      .resolves(
        existing(
          OFFBOARD_SM,
          'REQ-301',
          { requestId: 'REQ-301' },
          { status: 'FAILED', stopDate: new Date('2026-11-23T09:00:02Z'), error: 'UnmanagedRoleConflict', cause },
        ),
      );
    const r = await get('REQ-301');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      kind: 'offboarding',
      status: 'FAILED',
      error: { code: 'UnmanagedRoleConflict', message: 'database role "bob" was not created by this project' },
    });
    expect(r.body).not.toHaveProperty('output');
  });

  it.each(['TIMED_OUT', 'ABORTED'] as const)('reports %s as Step Functions does', async (status) => {
    sfn
      .on(DescribeExecutionCommand, { executionArn: execArn(ONBOARD_SM, 'REQ-302') })
      .resolves(existing(ONBOARD_SM, 'REQ-302', {}, { status, stopDate: new Date() }));
    expect((await get('REQ-302')).body.status).toBe(status);
  });

  it('404 for an unknown request id, 400 for one that cannot be a request id', async () => {
    expect(await get('REQ-none')).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
    expect(await get('bad id!')).toMatchObject({ status: 400, body: { error: 'ValidationError' } });
  });
});

describe('every route', () => {
  it('refuses a request without IAM caller identity (403)', async () => {
    for (const routeKey of ['POST /access-requests', 'POST /revocations', 'GET /requests/{requestId}']) {
      const r = await call({ routeKey, caller: null, body: {}, pathParameters: { requestId: 'x' } });
      expect(r, routeKey).toMatchObject({ status: 403, body: { error: 'NotAuthorized' } });
    }
  });

  it('answers 404 RouteNotFound for a route the API does not have', async () => {
    expect(await call({ routeKey: 'DELETE /access-requests', body: {} })).toMatchObject({ status: 404, body: { error: 'RouteNotFound' } });
  });
});

describe('validation: 400 (or the fitting 4xx) naming the field, and nothing started', () => {
  const ok = { principalArn: roleArn('alice'), target: 'orders' };
  const onboarding: Array<[string, unknown, number, string, string]> = [
    ['no body', undefined, 400, 'ValidationError', '(body)'],
    ['invalid JSON', '{"principalArn": ', 400, 'ValidationError', '(body)'],
    ['a JSON array', '[]', 400, 'ValidationError', '(body)'],
    ['an unknown field', { ...ok, admin: true }, 400, 'ValidationError', 'admin'],
    ['requestedBy set by the client', { ...ok, requestedBy: 'arn:aws:iam::123456789012:user/mallory' }, 400, 'ValidationError', 'requestedBy'],
    ['principalArn missing', { target: 'orders' }, 400, 'ValidationError', 'principalArn'],
    ['principalArn malformed', { ...ok, principalArn: 'arn:aws:iam::12345:role/x' }, 400, 'ValidationError', 'principalArn'],
    ['principalArn an STS session', { ...ok, principalArn: sessionOf('alice') }, 400, 'ValidationError', 'principalArn'],
    ['principalArn in another account', { ...ok, principalArn: 'arn:aws:iam::210987654321:role/alice' }, 400, 'ValidationError', 'principalArn'],
    ['dbUser with SQL in it', { ...ok, dbUser: 'alice"; DROP ROLE x; --' }, 400, 'ValidationError', 'dbUser'],
    ['dbUser longer than 63 bytes', { ...ok, dbUser: 'a'.repeat(64) }, 400, 'ValidationError', 'dbUser'],
    ['dbUser protected', { ...ok, dbUser: 'rds_superuser' }, 403, 'ProtectedRole', 'dbUser'],
    ['dbRoles not a list', { ...ok, dbRoles: 'app_read' }, 400, 'ValidationError', 'dbRoles'],
    ['a role not on the allow-list', { ...ok, dbRoles: ['rds_superuser'] }, 403, 'RoleNotAllowed', 'dbRoles'],
    ['an invalid database name', { ...ok, databases: ['app;'] }, 400, 'ValidationError', 'databases[0]'],
    ['target missing', { principalArn: roleArn('alice') }, 400, 'ValidationError', 'target'],
    ['an unknown target', { ...ok, target: 'nope' }, 404, 'UnknownTarget', 'target'],
    ['a malformed request id', { ...ok, requestId: 'has spaces' }, 400, 'ValidationError', 'requestId'],
    ['a request id too long for an execution name', { ...ok, requestId: 'r'.repeat(81) }, 400, 'ValidationError', 'requestId'],
  ];

  it.each(onboarding)('POST /access-requests with %s', async (_, body, status, error, field) => {
    const r = await call({ routeKey: 'POST /access-requests', body });
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(error);
    expect(r.body.message).toContain(field);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
  });

  const revocation: Array<[string, unknown, number, string, string]> = [
    ['dbUser missing', { target: 'orders' }, 400, 'ValidationError', 'dbUser'],
    ['the master user', { target: 'orders', dbUser: 'postgres' }, 403, 'ProtectedRole', 'dbUser'],
    ['the successor role', { target: 'orders', dbUser: 'data_owner' }, 403, 'ProtectedRole', 'dbUser'],
    ['a malformed principalArn', { target: 'orders', dbUser: 'alice', principalArn: 'alice' }, 400, 'ValidationError', 'principalArn'],
    ['an unknown target', { target: 'nope', dbUser: 'alice' }, 404, 'UnknownTarget', 'target'],
  ];

  it.each(revocation)('POST /revocations with %s', async (_, body, status, error, field) => {
    const r = await call({ routeKey: 'POST /revocations', body });
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(error);
    expect(r.body.message).toContain(field);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('?dryRun must be true or false', async () => {
    const r = await call({ routeKey: 'POST /access-requests', body: ok, query: { dryRun: 'yes' } });
    expect(r).toMatchObject({ status: 400, body: { error: 'ValidationError' } });
    expect(r.body.message).toContain('dryRun');
  });
});

describe('authorization (configuration api.admins / api.selfService)', () => {
  const request = (caller: string, body: object, config?: Config) =>
    call({ routeKey: 'POST /access-requests', caller, body: { target: 'orders', ...body } }, config);
  const revoke = (caller: string, body: object, config?: Config) =>
    call({ routeKey: 'POST /revocations', caller, body: { target: 'orders', ...body } }, config);

  it('a role session may request access for its own role (any path) and its own database user', async () => {
    expect((await request(sessionOf('alice'), { principalArn: roleArn('alice') })).status).toBe(202);
    expect((await request(sessionOf('alice'), { principalArn: `arn:aws:iam::${ACCOUNT}:role/teams/data/alice`, dbUser: 'alice' })).status).toBe(202);
  });

  it('an IAM user may request access for itself', async () => {
    expect((await request(`arn:aws:iam::${ACCOUNT}:user/engineering/bob`, { principalArn: `arn:aws:iam::${ACCOUNT}:user/engineering/bob` })).status).toBe(202);
  });

  it.each([
    ['another principal', sessionOf('alice'), { principalArn: roleArn('bob') }, 'not own principal'],
    ["another principal's database user on its own principal", sessionOf('alice'), { principalArn: roleArn('alice'), dbUser: 'bob' }, 'not own database user'],
    ['a user for a role of the same name', `arn:aws:iam::${ACCOUNT}:user/alice`, { principalArn: roleArn('alice') }, 'not own principal'],
    ['the same name in another account', `arn:aws:sts::210987654321:assumed-role/alice/s`, { principalArn: roleArn('alice') }, 'not own principal'],
    ['the account root', `arn:aws:iam::${ACCOUNT}:root`, { principalArn: roleArn('alice') }, 'no own principal'],
    ['a federated user', `arn:aws:sts::${ACCOUNT}:federated-user/carol`, { principalArn: roleArn('carol') }, 'no own principal'],
  ])('refuses a non-administrator asking for %s (403 with the reason) and starts nothing', async (_, caller, body, reason) => {
    const r = await request(caller, body);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ error: 'NotAuthorized', details: { reason } });
    expect(r.body.message).toContain(caller);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('administrators (exact ARN or * pattern, matched against the session or its role) may ask for anyone', async () => {
    expect((await request(ADMIN, { principalArn: roleArn('bob'), dbUser: 'reporting_bob' })).status).toBe(202);
    // api.admins names the role; any session of it is an administrator.
    expect((await request(`arn:aws:sts::${ACCOUNT}:assumed-role/platform-admin/ops`, { principalArn: roleArn('carol') })).status).toBe(202);
    const sso: Config = { ...sb.config, api: { admins: [`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_DBA_*/*`], auditors: [], selfService: true } };
    expect(
      (await request(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_DBA_0123abcd/jane@example.com`, { principalArn: roleArn('bob') }, sso)).status,
    ).toBe(202);
    // The pattern is anchored: a look-alike role is no administrator.
    expect((await request(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_DBAx/jane`, { principalArn: roleArn('bob') }, sso)).status).toBe(403);
    expect((await request(`arn:aws:sts::${ACCOUNT}:assumed-role/platform-admin-2/x`, { principalArn: roleArn('bob') })).status).toBe(403);
  });

  it('with selfService off, only administrators may ask', async () => {
    const closed: Config = { ...sb.config, api: { ...sb.config.api, selfService: false } };
    const r = await request(sessionOf('alice'), { principalArn: roleArn('alice') }, closed);
    expect(r).toMatchObject({ status: 403, body: { error: 'NotAuthorized', details: { reason: 'not an administrator' } } });
    expect((await request(ADMIN, { principalArn: roleArn('alice') }, closed)).status).toBe(202);
  });

  it("a caller may revoke its own database user (with or without its principal), not anyone else's", async () => {
    expect((await revoke(sessionOf('alice'), { dbUser: 'alice' })).status).toBe(202);
    expect((await revoke(sessionOf('alice'), { dbUser: 'alice', principalArn: roleArn('alice') })).status).toBe(202);
    expect(await revoke(sessionOf('alice'), { dbUser: 'bob' })).toMatchObject({ status: 403, body: { details: { reason: 'not own database user' } } });
    expect(await revoke(sessionOf('alice'), { dbUser: 'alice', principalArn: roleArn('bob') })).toMatchObject({
      status: 403,
      body: { details: { reason: 'not own principal' } },
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });

  it('dry runs are authorized like the requests they preview', async () => {
    const r = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf('alice'),
      body: { principalArn: roleArn('bob'), target: 'orders' },
      query: { dryRun: 'true' },
    });
    expect(r.status).toBe(403);
    expect(lambda.calls()).toHaveLength(0);
  });
});

describe('self-service ownership: a name does not say whose a database user is', () => {
  /** A managed database user named `name`, created by an administrator for `principalArn`. */
  const adminCreates = async (name: string, principalArn: string) => {
    const exec = await sb.runner.run('onboard', uniqueName('adm'), { requestId: uniqueName('adm'), principalArn, dbUser: name, target: 'orders' });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
  };

  it('role alice cannot take over database user alice created for IAM user alice: dry run 403, run fails, nothing granted', async () => {
    const name = uniqueName('alice');
    const userArn = sb.aws.iam.addUser(name);
    const roleArnOfAlice = sb.aws.iam.addRole(name);
    await adminCreates(name, userArn);
    const caller = sessionOf(name);

    const plan = await call({ routeKey: 'POST /access-requests', caller, body: { principalArn: roleArnOfAlice, target: 'orders' }, query: { dryRun: 'true' } });
    expect(plan.status).toBe(403);
    expect(plan.body).toMatchObject({ error: 'NotAuthorized', details: { reason: 'not own database user' } });
    expect(plan.body.message).toContain(userArn);

    const r = await call({ routeKey: 'POST /access-requests', caller, body: { requestId: 'REQ-OWN-1', principalArn: roleArnOfAlice, target: 'orders' } });
    expect(r.status).toBe(202);
    const exec = await sb.runner.run('onboard', 'REQ-OWN-1', started()[0].input);
    expect(exec.status).toBe('FAILED');
    expect(exec.error).toBe('NotAuthorized');
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
    expect((await roleFacts(name)).exists).toBe(true);
  });

  it('a caller may revoke only a database user created for its own principal', async () => {
    const name = uniqueName('alice');
    const userArn = sb.aws.iam.addUser(name);
    await adminCreates(name, userArn);
    const caller = sessionOf(name);
    const plan = await call({ routeKey: 'POST /revocations', caller, body: { dbUser: name, target: 'orders' }, query: { dryRun: 'true' } });
    expect(plan).toMatchObject({ status: 403, body: { error: 'NotAuthorized', details: { reason: 'not own database user' } } });

    await call({ routeKey: 'POST /revocations', caller, body: { requestId: 'REQ-OWN-2', dbUser: name, target: 'orders' } });
    const exec = await sb.runner.run('offboard', 'REQ-OWN-2', started()[0].input);
    expect(exec.status).toBe('FAILED');
    expect(exec.error).toBe('NotAuthorized');
    expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: true });
    expect(sb.aws.iam.connectGrants('user', name)).toHaveLength(1);

    // Its own database user, created for its own role: allowed, end to end.
    const own = uniqueName('carol');
    const ownRole = sb.aws.iam.addRole(own);
    await adminCreates(own, ownRole);
    await call({ routeKey: 'POST /revocations', caller: sessionOf(own), body: { requestId: 'REQ-OWN-3', dbUser: own, target: 'orders' } });
    const mine = await sb.runner.run('offboard', 'REQ-OWN-3', started()[1].input);
    expect(mine.status, `${mine.error}: ${mine.cause}`).toBe('SUCCEEDED');
    expect((await roleFacts(own)).exists).toBe(false);
  });

  it('administrators are not bound by ownership', async () => {
    const name = uniqueName('dave');
    await adminCreates(name, sb.aws.iam.addUser(name));
    const plan = await call({ routeKey: 'POST /revocations', body: { dbUser: name, target: 'orders' }, query: { dryRun: 'true' } });
    expect(plan.status).toBe(200);
  });

  it('a refused caller learns nothing about the configuration: 403 before validation', async () => {
    const r = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf('alice'),
      body: { principalArn: roleArn('bob'), target: 'secret-target', dbRoles: ['rds_superuser'] },
    });
    expect(r).toMatchObject({ status: 403, body: { error: 'NotAuthorized' } });
    expect(r.body.message).not.toContain('orders');
  });

  it('a mistyped ?dryrun is refused, not run', async () => {
    const r = await call({ routeKey: 'POST /access-requests', body: { principalArn: roleArn('alice'), target: 'orders' }, query: { dryrun: 'true' } });
    expect(r).toMatchObject({ status: 400, body: { error: 'ValidationError' } });
    expect(r.body.message).toContain('dryrun');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('nobody grants through a shared role (sessionTagKey) by the API: identity-provider runs do', async () => {
    for (const caller of [sessionOf('alice'), ADMIN]) {
      const r = await call({
        routeKey: 'POST /access-requests',
        caller,
        body: {
          principalArn: roleArn(caller === ADMIN ? 'shared' : 'alice'),
          dbUser: caller === ADMIN ? 'carol' : 'alice',
          target: 'orders',
          sessionTagKey: 'db_user',
        },
      });
      expect(r, caller).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field: 'sessionTagKey' } } });
    }
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('requireOwner cannot be set by the client', async () => {
    const r = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf('alice'),
      body: { principalArn: roleArn('alice'), target: 'orders', requireOwner: ADMIN },
    });
    expect(r).toMatchObject({ status: 400, body: { error: 'ValidationError' } });
    expect(r.body.message).toContain('requireOwner');
  });

  it('non-administrators read only requests they sent or that concern their own principal', async () => {
    const arn = (name: string) => ({ executionArn: `${ONBOARD_SM.replace(':stateMachine:', ':execution:')}:${name}` });
    sfn.on(DescribeExecutionCommand, arn('REQ-R1')).resolves(existing(ONBOARD_SM, 'REQ-R1', { principalArn: roleArn('bob'), requestedBy: ADMIN }));
    sfn.on(DescribeExecutionCommand, arn('REQ-R2')).resolves(existing(ONBOARD_SM, 'REQ-R2', { principalArn: roleArn('alice'), requestedBy: ADMIN }));
    sfn.on(DescribeExecutionCommand, arn('REQ-R3')).resolves(existing(ONBOARD_SM, 'REQ-R3', { principalArn: roleArn('bob'), requestedBy: sessionOf('alice') }));
    const get = (id: string, caller: string) => call({ routeKey: 'GET /requests/{requestId}', caller, pathParameters: { requestId: id } });
    // Refused as if unknown: the same status and message as an id nobody used, so a caller cannot probe ids.
    const refused = await get('REQ-R1', sessionOf('alice'));
    expect(refused).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
    expect(JSON.stringify(refused.body).replaceAll('REQ-R1', 'X')).toBe(
      JSON.stringify((await get('REQ-NONE', sessionOf('alice'))).body).replaceAll('REQ-NONE', 'X'),
    );
    expect((await get('REQ-R2', sessionOf('alice'))).status).toBe(200);
    expect((await get('REQ-R3', `arn:aws:sts::${ACCOUNT}:assumed-role/alice/other-session`)).status).toBe(200);
    expect((await get('REQ-R1', ADMIN)).status).toBe(200);
  });
});

describe('caller identity', () => {
  it.each([
    [`arn:aws:sts::${ACCOUNT}:assumed-role/app-role/i-0abc`, { type: 'role', name: 'app-role' }],
    [`arn:aws:iam::${ACCOUNT}:user/alice`, { type: 'user', name: 'alice' }],
    [`arn:aws:iam::${ACCOUNT}:user/division/team/alice`, { type: 'user', name: 'alice' }],
    [`arn:aws-us-gov:sts::${ACCOUNT}:assumed-role/r/s`, { type: 'role', name: 'r' }],
    [`arn:aws:iam::${ACCOUNT}:root`, undefined],
    [`arn:aws:sts::${ACCOUNT}:federated-user/carol`, undefined],
  ])('%s', (arn, principal) => {
    expect(parseCallerArn(arn).principal).toEqual(principal);
  });

  it('refuses what is not an IAM or STS ARN', () => {
    expect(() => parseCallerArn('alice')).toThrow(/not an IAM or STS ARN/);
  });

  it.each([
    [`arn:aws:iam::${ACCOUNT}:role/alice`, `arn:aws:sts::${ACCOUNT}:assumed-role/alice/SESSION`],
    [`arn:aws:iam::${ACCOUNT}:role/teams/db/alice`, `arn:aws:sts::${ACCOUNT}:assumed-role/alice/SESSION`],
    [`arn:aws:sts::${ACCOUNT}:assumed-role/alice`, `arn:aws:sts::${ACCOUNT}:assumed-role/alice/SESSION`],
    [`arn:aws-cn:iam::${ACCOUNT}:role/alice`, `arn:aws-cn:sts::${ACCOUNT}:assumed-role/alice/SESSION`],
  ])('a caller %s is no session: told to send %s (or an IAM user), naming the header; nothing starts', async (caller, expected) => {
    const r = await call({ routeKey: 'POST /access-requests', caller, body: { principalArn: roleArn('alice'), target: 'orders' } });
    expect(r).toMatchObject({ status: 403, body: { error: 'NotAuthorized', details: { reason: 'caller is not a session', callerArn: caller, expected } } });
    const message = r.body.message as string;
    expect(message).toContain(expected);
    expect(message).toContain('x-caller-arn header');
    expect(message).toMatch(/IAM user ARN arn:aws(-cn)?:iam::123456789012:user\/NAME/);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('a group, a policy or another resource as the caller is refused with the forms a caller takes; every route refuses it', async () => {
    for (const caller of [`arn:aws:iam::${ACCOUNT}:group/dbas`, `arn:aws:iam::${ACCOUNT}:policy/p`]) {
      const r = await call({ routeKey: 'GET /requests/{requestId}', caller, pathParameters: { requestId: 'REQ-1' } });
      expect(r, caller).toMatchObject({ status: 403, body: { error: 'NotAuthorized', details: { reason: 'caller is not a session' } } });
      expect(r.body.message).toContain(`assumed-role/ROLE/SESSION or an IAM user arn:aws:iam::${ACCOUNT}:user/NAME`);
    }
    expect((await call({ routeKey: 'GET /grants', caller: `arn:aws:iam::${ACCOUNT}:role/auditor` })).body).toMatchObject({
      error: 'NotAuthorized',
      details: { reason: 'caller is not a session' },
    });
  });
});

describe('?dryRun=true: the plan, as data, on a real database, and nothing changes', () => {
  const dryRun = (routeKey: string, body: object) => call({ routeKey, body, query: { dryRun: 'true' } });
  const steps = (plan: RequestPlan, system: string) => plan.steps.filter((s) => s.system === system);

  it('onboarding: the SQL and IAM changes the workflow then makes, exactly; the dry run itself changes nothing', async () => {
    const name = uniqueName('DryRole');
    const principalArn = sb.aws.iam.addRole(name);
    const body = { requestId: uniqueName('dry'), principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'] };
    const r = await dryRun('POST /access-requests', body);
    expect(r.status).toBe(200);
    const plan = r.body as unknown as RequestPlan;
    expect(plan).toMatchObject({
      dryRun: true,
      kind: 'onboarding',
      dbUser: name,
      outcome: 'created',
      principals: [principalArn],
      target: { name: 'orders', kind: 'instance', identifier: 'orders-db', iamAuthEnabled: true },
    });
    expect(steps(plan, 'rds')).toEqual([]);
    const sql = steps(plan, 'postgresql').map((s) => s.sql);
    expect(sql).toContain(`CREATE ROLE "${name}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION`);
    expect(sql).toContain(`GRANT "rds_iam" TO "${name}"`);
    expect(sql).toContain(`GRANT "app_read" TO "${name}"`);
    expect(sql).toContain(`GRANT CONNECT ON DATABASE "app" TO "${name}"`);
    expect(steps(plan, 'iam').map((s) => s.action)).toEqual(['iam:CreatePolicy', 'iam:AttachRolePolicy']);

    // Nothing changed: no role, no policy, no execution.
    expect((await roleFacts(name)).exists).toBe(false);
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);

    // The run does what the plan said.
    const exec = await sb.runner.run('onboard', body.requestId, body);
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    const output = exec.output as { statements: string[]; resourceArn: string };
    expect(output.statements).toEqual(steps(plan, 'postgresql').map((s) => s.description));
    expect(sb.aws.iam.attachedDocuments('role', name)).toEqual([steps(plan, 'iam')[0].policyDocument]);

    // Planned again: nothing left to do.
    const again = (await dryRun('POST /access-requests', { ...body, requestId: uniqueName('dry') })).body as unknown as RequestPlan;
    expect(again.outcome).toBe('already present');
    expect(again.steps).toEqual([]);
  });

  it('onboarding on a target with IAM auth off: the plan includes enabling it, and RDS is not modified', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Legacy'));
    const plan = (await dryRun('POST /access-requests', { principalArn, target: 'legacy' })).body as unknown as RequestPlan;
    expect(steps(plan, 'rds')).toEqual([
      expect.objectContaining({ action: 'rds:ModifyDBInstance', resource: 'arn:aws:rds:eu-west-1:123456789012:db:legacy-db' }),
    ]);
    expect(steps(plan, 'rds')[0].description).toContain('applied immediately');
    expect(sb.aws.stubs.rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it('refuses as the run would: IAM auth that may not be enabled (409), an unmanaged existing role (409), a principal IAM does not know (404)', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Frozen'));
    expect(await dryRun('POST /access-requests', { principalArn, target: 'frozen' })).toMatchObject({ status: 409, body: { error: 'IamAuthDisabled' } });

    const unmanaged = uniqueName('dba_user');
    const c = await masterClient();
    try {
      await c.query(`CREATE ROLE "${unmanaged}" LOGIN PASSWORD 'secret'`);
    } finally {
      await c.end();
    }
    const conflict = await dryRun('POST /access-requests', { principalArn, target: 'orders', dbUser: unmanaged });
    expect(conflict).toMatchObject({ status: 409, body: { error: 'UnmanagedRoleConflict', details: { field: 'dbUser' } } });

    expect(await dryRun('POST /access-requests', { principalArn: roleArn(uniqueName('Ghost')), target: 'orders' })).toMatchObject({
      status: 404,
      body: { error: 'PrincipalNotFound' },
    });
  });

  it('offboarding: block login, revoke, move objects per database (counted), drop; nothing changes until the run', async () => {
    const name = uniqueName('Leaver');
    const principalArn = sb.aws.iam.addRole(name);
    const on = await sb.runner.run('onboard', uniqueName('on'), { requestId: uniqueName('on'), principalArn, target: 'orders', databases: ['app'] });
    expect(on.status, `${on.error}: ${on.cause}`).toBe('SUCCEEDED');
    const app = await superClient('app');
    try {
      await app.query(`CREATE TABLE "t_${name}" (id int)`);
      await app.query(`ALTER TABLE "t_${name}" OWNER TO "${name}"`);
    } finally {
      await app.end();
    }

    const plan = (await dryRun('POST /revocations', { requestId: uniqueName('off'), dbUser: name, target: 'orders' })).body as unknown as RequestPlan;
    expect(plan).toMatchObject({ kind: 'offboarding', outcome: 'dropped', principals: [principalArn] });
    const actions = plan.steps.map((s) => (s.sql ?? s.action).split(' ').slice(0, 2).join(' '));
    expect(actions[0]).toBe('ALTER ROLE');
    expect(actions).toContain('iam:DetachRolePolicy');
    expect(actions).toContain('iam:DeletePolicy');
    expect(actions.at(-1)).toBe('DROP ROLE');
    const reassignApp = plan.steps.find((s) => s.database === 'app' && s.sql?.startsWith('REASSIGN OWNED'));
    expect(reassignApp?.description).toContain('the 1 object(s)');
    expect(plan.objects).toEqual([{ database: 'app', owner: name, kind: 'table', name: `public."t_${name}"`, action: 'successor', reason: 'data, kept' }]);
    // IAM is changed after login is blocked and before objects move, as in the workflow.
    expect(actions.indexOf('iam:DetachRolePolicy')).toBeLessThan(actions.indexOf('REASSIGN OWNED'));

    const facts = await roleFacts(name);
    expect(facts).toMatchObject({ exists: true, canLogin: true });
    expect(sb.aws.iam.connectGrants('role', name)).toHaveLength(1);

    const off = await sb.runner.run('offboard', uniqueName('off'), { requestId: uniqueName('off'), dbUser: name, target: 'orders' });
    expect(off.status, `${off.error}: ${off.cause}`).toBe('SUCCEEDED');
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('offboarding a leaver with a planted view and function: the dry run shows the per-object decisions and statements the run then carries out', async () => {
    const name = uniqueName('Planner');
    const principalArn = sb.aws.iam.addRole(name);
    const on = await sb.runner.run('onboard', uniqueName('on'), { requestId: uniqueName('on'), principalArn, target: 'orders', databases: ['app'] });
    expect(on.status, `${on.error}: ${on.cause}`).toBe('SUCCEEDED');
    const schema = `p_${name.toLowerCase()}`;
    const app = await superClient('app');
    try {
      await app.query(`CREATE SCHEMA ${schema} AUTHORIZATION "${name}"`);
      await app.query(`SET ROLE "${name}"`);
      await app.query(`CREATE TABLE ${schema}.t (id int)`);
      await app.query(`CREATE VIEW ${schema}.v AS SELECT * FROM ${schema}.t`);
      await app.query(`CREATE FUNCTION ${schema}.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`);
    } finally {
      await app.end();
    }
    const plan = (await dryRun('POST /revocations', { requestId: uniqueName('off'), dbUser: name, target: 'orders' })).body as unknown as RequestPlan;
    const sql = plan.steps.filter((s) => s.database === 'app').map((s) => s.sql);
    expect(sql).toEqual(
      expect.arrayContaining([`ALTER VIEW ${schema}.v OWNER TO "${QUARANTINE_ROLE}"`, `ALTER FUNCTION ${schema}.f() OWNER TO "${QUARANTINE_ROLE}"`]),
    );
    expect(sql.indexOf(`ALTER VIEW ${schema}.v OWNER TO "${QUARANTINE_ROLE}"`)).toBeLessThan(sql.findIndex((s) => s?.startsWith('REASSIGN OWNED')));
    const mine = (objects: Array<{ name: string; action: string }> | undefined) =>
      (objects ?? []).filter((o) => o.name.startsWith(schema)).sort((a, b) => a.name.localeCompare(b.name));
    expect(mine(plan.objects).map((o) => [o.name, o.action])).toEqual([
      [schema, 'successor'],
      [`${schema}.f()`, 'quarantine'],
      [`${schema}.t`, 'successor'],
      [`${schema}.v`, 'quarantine'],
    ]);
    expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: true });

    const off = await sb.runner.run('offboard', uniqueName('off'), { requestId: uniqueName('off'), dbUser: name, target: 'orders' });
    expect(off.status, `${off.error}: ${off.cause}`).toBe('SUCCEEDED');
    expect(mine((off.output as { objects: Array<{ name: string; action: string }> }).objects)).toEqual(mine(plan.objects));
  });

  it('the dry-run session cannot write, whatever runs on it (default_transaction_read_only)', async () => {
    const target = resolveTargetConfig(sb.config, 'orders');
    const connect = await targetAdmin(target, await describeTarget(new RDSClient({ region: 'eu-west-1' }), target), { readOnly: true });
    const name = uniqueName('never');
    await expect(connect('postgres', (c) => c.query(`CREATE ROLE "${name}"`))).rejects.toMatchObject({ code: 'DatabaseError', details: { sqlstate: '25006' } });
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('offboarding a user that does not exist plans nothing ("not found")', async () => {
    const plan = (await dryRun('POST /revocations', { dbUser: uniqueName('nobody'), target: 'orders' })).body as unknown as RequestPlan;
    expect(plan).toMatchObject({ outcome: 'not found', principals: [], steps: [] });
  });

  it('offboarding the master user is refused by the database half (RDS names it), as the run would', async () => {
    const r = await dryRun('POST /revocations', { dbUser: testPg().masterUser, target: 'orders' });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('ProtectedRole');
  });
});

describe("request ids: a self-service caller can neither block nor read another caller's request", () => {
  // Step Functions as the simulation has it (names unique per state machine), running the real workflows.
  beforeEach(() => {
    sfn.restore();
    sfn = new SimulatedStepFunctions(sb.runner, { region: 'eu-west-1', accountId: ACCOUNT, stage: 'test' }).install();
  });
  const succeeded = async (kind: 'onboard' | 'offboard', requestId: string) => {
    await sb.runner.idle();
    const run = sb.runner.find(kind, requestId);
    expect(run?.status, `${requestId}: ${run?.error} ${run?.cause}`).toBe('SUCCEEDED');
    return run;
  };

  it('identical requests sent at once: exactly one answers 202, every other 200 with that run; one execution (issue 11 item 4)', async () => {
    const id = uniqueName('REQ-BURST');
    const principalArn = sb.aws.iam.addRole(uniqueName('burst'));
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => call({ routeKey: 'POST /access-requests', body: { requestId: id, principalArn, target: 'orders' } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 202]);
    const startedAt = new Set(answers.map((a) => a.body.startedAt));
    expect(startedAt.size).toBe(1);
    await succeeded('onboard', id);
  });

  it("taking an id first (say a ticket number) does not make the administrator's request with that id a 409", async () => {
    const [alice, bob] = [uniqueName('alice'), uniqueName('bob')];
    const [aliceRole, bobRole] = [sb.aws.iam.addRole(alice), sb.aws.iam.addRole(bob)];
    const ticket = uniqueName('TICKET');
    const taken = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf(alice),
      body: { requestId: ticket, principalArn: aliceRole, target: 'orders' },
    });
    expect(taken.status).toBe(202);
    expect(taken.body.requestId).toBe(`${selfServiceNamespace(aliceRole)}${ticket}`);

    const admin = await call({ routeKey: 'POST /access-requests', body: { requestId: ticket, principalArn: bobRole, target: 'orders' } });
    expect(admin, JSON.stringify(admin.body)).toMatchObject({ status: 202, body: { requestId: ticket, kind: 'onboarding' } });
    expect((await succeeded('onboard', ticket))?.input).toMatchObject({ principalArn: bobRole, requestedBy: ADMIN });
    await succeeded('onboard', taken.body.requestId as string);
    expect((await roleFacts(bob)).exists).toBe(true);

    // Nor another self-service caller's: the same id from bob is bob's own request.
    const bobs = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf(bob),
      body: { requestId: ticket, principalArn: bobRole, target: 'orders' },
    });
    expect(bobs).toMatchObject({ status: 202, body: { requestId: `${selfServiceNamespace(bobRole)}${ticket}` } });
  });

  it("replaying an administrator's request with its id shows nothing of it; GET refuses it as if unknown", async () => {
    const alice = uniqueName('alice');
    const aliceRole = sb.aws.iam.addRole(alice);
    const [on, off] = [uniqueName('ON'), uniqueName('OFF')];
    expect((await call({ routeKey: 'POST /access-requests', body: { requestId: on, principalArn: aliceRole, target: 'orders' } })).status).toBe(202);
    await succeeded('onboard', on);
    // The administrator's revocation names no principal: it is not alice's to read.
    const revocation = { requestId: off, dbUser: alice, target: 'orders', reason: 'HR-4711 dismissal' };
    expect((await call({ routeKey: 'POST /revocations', body: revocation })).status).toBe(202);
    await succeeded('offboard', off);

    const replay = await call({ routeKey: 'POST /revocations', caller: sessionOf(alice), body: { requestId: off, dbUser: alice, target: 'orders' } });
    expect(replay.body.requestId).not.toBe(off);
    expect(JSON.stringify(replay.body)).not.toContain('HR-4711');
    expect(replay.body).not.toHaveProperty('output');
    expect(replay.status).toBe(202);

    const read = await call({ routeKey: 'GET /requests/{requestId}', caller: sessionOf(alice), pathParameters: { requestId: off } });
    const unknown = await call({ routeKey: 'GET /requests/{requestId}', caller: sessionOf(alice), pathParameters: { requestId: `${off}X` } });
    expect(read).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
    expect(read.body.message).toBe((unknown.body.message as string).replace(`${off}X`, off));
    expect((await call({ routeKey: 'GET /requests/{requestId}', pathParameters: { requestId: off } })).body).toMatchObject({
      input: { reason: 'HR-4711 dismissal' },
    });
  });

  it(
    "an execution in a caller's namespace that someone else started (directly in Step Functions) is " + 'answered like GET: 404, neither replayed nor a 409',
    async () => {
      const alice = uniqueName('alice');
      const aliceRole = sb.aws.iam.addRole(alice);
      const id = uniqueName('X');
      const name = `${selfServiceNamespace(aliceRole)}${id}`;
      // Whoever may call states:StartExecution can name an execution anything.
      await new SFNClient({ region: 'eu-west-1' }).send(
        new StartExecutionCommand({
          stateMachineArn: OFFBOARD_SM,
          name,
          input: JSON.stringify({ requestId: name, dbUser: alice, target: 'orders', reason: 'secret', requestedBy: ADMIN }),
        }),
      );
      await sb.runner.idle();
      const same = await call({
        routeKey: 'POST /revocations',
        caller: sessionOf(alice),
        body: { requestId: id, dbUser: alice, target: 'orders', reason: 'secret' },
      });
      const different = await call({ routeKey: 'POST /revocations', caller: sessionOf(alice), body: { requestId: id, dbUser: alice, target: 'orders' } });
      const asOnboarding = await call({
        routeKey: 'POST /access-requests',
        caller: sessionOf(alice),
        body: { requestId: id, principalArn: aliceRole, target: 'orders' },
      });
      const read = await call({ routeKey: 'GET /requests/{requestId}', caller: sessionOf(alice), pathParameters: { requestId: name } });
      for (const r of [same, different, asOnboarding, read]) expect(r).toEqual({ status: 404, headers: read.headers, body: read.body });
      expect(read.body.error).toBe('RequestNotFound');
    },
  );

  it('ids are checked for their namespace: self- and idp- are reserved, a self-service id leaves room for its prefix', async () => {
    for (const requestId of ['self-0123456789abcdef-T1', 'idp-okta-0a1b2c']) {
      const r = await call({ routeKey: 'POST /access-requests', body: { requestId, principalArn: roleArn('alice'), target: 'orders' } });
      expect(r, requestId).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field: 'requestId' } } });
      expect(r.body.message).toContain('reserved');
    }
    const long = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf('alice'),
      body: { requestId: 'r'.repeat(59), principalArn: roleArn('alice'), target: 'orders' },
    });
    expect(long).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field: 'requestId' } } });
    expect(long.body.message).toContain('1-58');
    expect(
      (
        await call({
          routeKey: 'POST /access-requests',
          caller: sessionOf('alice'),
          body: { requestId: 'r'.repeat(58), principalArn: roleArn('alice'), target: 'orders' },
        })
      ).status,
    ).toBe(202);
    expect(sb.runner.executions.size).toBe(1);
  });
});

describe("shared roles are nobody's own principal", () => {
  const PERMISSION_SET = 'AWSReservedSSO_DatabaseUsers_0123456789abcdef';
  const member = (who: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${PERMISSION_SET}/${who}@example.com`;
  const permissionSetRole = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/${PERMISSION_SET}`;
  const withSharedRole = (roleArn: string, extra: object = {}): Config =>
    parseConfig({
      ...sb.config,
      idp: { groups: {}, principal: { kind: 'shared', roleArn, dbUserPrefix: 'sso_' }, dbUserTemplate: 'sso_{userNameLocalPart}' },
      ...extra,
    });

  it.each([
    ['an IAM Identity Center permission-set session, for its role', member('alice'), permissionSetRole, PERMISSION_SET, undefined],
    ["a session of the identity-provider mapping's shared role", sessionOf('db-people'), roleArn('db-people'), 'db-people', roleArn('db-people')],
  ])('refuses %s (403 saying why and what to use instead) and starts nothing', async (_, caller, principalArn, dbUser, shared) => {
    const config = shared ? withSharedRole(shared) : sb.config;
    const onboard = await call({ routeKey: 'POST /access-requests', caller, body: { principalArn, target: 'orders' } }, config);
    const revoke = await call({ routeKey: 'POST /revocations', caller, body: { dbUser, target: 'orders' } }, config);
    for (const r of [onboard, revoke]) {
      expect(r).toMatchObject({ status: 403, body: { error: 'NotAuthorized', details: { reason: 'shared principal' } } });
      expect(r.body.message).toContain('shared by many people');
      expect(r.body.message).toContain('identity-provider groups');
    }
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("a member cannot read the requests of the shared role's other members", async () => {
    const bobs = {
      requestId: 'idp-identity-center-0a1b',
      principalArn: permissionSetRole,
      dbUser: 'sso_bob',
      target: 'orders',
      sessionTagKey: 'db_user',
      requestedBy: 'idp:identity-center',
    };
    sfn
      .on(DescribeExecutionCommand, { executionArn: `${ONBOARD_SM.replace(':stateMachine:', ':execution:')}:${bobs.requestId}` })
      .resolves(existing(ONBOARD_SM, bobs.requestId, bobs));
    const r = await call({ routeKey: 'GET /requests/{requestId}', caller: member('alice'), pathParameters: { requestId: bobs.requestId } });
    expect(r).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
    expect((await call({ routeKey: 'GET /requests/{requestId}', pathParameters: { requestId: bobs.requestId } })).status).toBe(200);
  });

  it('administrators matched by a permission-set pattern are still administrators', async () => {
    const sso = { ...sb.config, api: { admins: [`arn:aws:sts::${ACCOUNT}:assumed-role/${PERMISSION_SET}/jane@example.com`], auditors: [], selfService: true } };
    expect(
      (await call({ routeKey: 'POST /access-requests', caller: member('jane'), body: { principalArn: roleArn('bob'), target: 'orders' } }, sso)).status,
    ).toBe(202);
  });

  it("the shared role's names and statement are the identity provider's: the API grants neither", async () => {
    const config = withSharedRole(permissionSetRole);
    const prefixed = await call({ routeKey: 'POST /access-requests', body: { principalArn: roleArn('carol'), dbUser: 'sso_carol', target: 'orders' } }, config);
    expect(prefixed).toMatchObject({ status: 403, body: { error: 'ProtectedRole', details: { field: 'dbUser' } } });
    expect(prefixed.body.message).toContain('"sso_"');
    const perPerson = await call({ routeKey: 'POST /access-requests', body: { principalArn: permissionSetRole, dbUser: 'carol', target: 'orders' } }, config);
    expect(perPerson).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field: 'principalArn' } } });
    expect(perPerson.body.message).toContain('every member');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    // Without a shared mapping such names are ordinary.
    expect((await call({ routeKey: 'POST /access-requests', body: { principalArn: roleArn('carol'), dbUser: 'sso_carol', target: 'orders' } })).status).toBe(
      202,
    );
  });
});

describe('api.admins / api.auditors patterns', () => {
  const withApi = (api: object) => ({ ...sb.config, api: { ...sb.config.api, ...api } });

  it.each([
    ['any account', 'admins', `arn:aws:sts::*:assumed-role/platform-admin/*`],
    ['a wildcard in the account', 'auditors', `arn:aws:iam::12345678901*:role/auditor`],
    ['a wildcard partition', 'admins', `arn:*:iam::${ACCOUNT}:role/platform-admin`],
    ['an unknown partition', 'admins', `arn:awsx:iam::${ACCOUNT}:role/platform-admin`],
    ['an empty account', 'auditors', `arn:aws:iam:::role/auditor`],
  ])('refuses %s (naming the path), so no foreign role of that name is trusted', (_, key, pattern) => {
    const env = { TARGETS_CONFIG: JSON.stringify(withApi({ [key]: [`arn:aws:iam::${ACCOUNT}:role/ok`, pattern] })) };
    expect(() => loadConfig(env)).toThrow(new RegExp(`api\\.${key}\\.1: must be an IAM or STS ARN with a literal partition`));
  });

  it('accepts * in the resource part; a role of that name in another account is no administrator', async () => {
    const config = parseConfig(withApi({ admins: [`arn:aws:sts::${ACCOUNT}:assumed-role/platform-*/*`] }));
    expect(
      (await call({ routeKey: 'POST /access-requests', caller: sessionOf('platform-ops'), body: { principalArn: roleArn('bob'), target: 'orders' } }, config))
        .status,
    ).toBe(202);
    const foreign = await call(
      {
        routeKey: 'POST /access-requests',
        caller: 'arn:aws:sts::999999999999:assumed-role/platform-ops/x',
        body: { principalArn: roleArn('bob'), target: 'orders' },
      },
      config,
    );
    expect(foreign).toMatchObject({ status: 403, body: { error: 'NotAuthorized' } });
  });
});
