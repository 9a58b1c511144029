/**
 * Requests under approval policies through the api handler (functions/lib/api/access-requests.ts): the plan from the
 * real planners on a real PostgreSQL (the database half through the dbUserPlan function), the record in the
 * access-request store on the DynamoDB simulation, Step Functions mocked at the SDK boundary. Nothing is granted by
 * a request or a decision: activation is the onApproved seam, counted here.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../functions/lib/access/lifecycle';
import { BY_STATE_INDEX, BY_STATE_KEYS, dynamoAccessRequestStore } from '../../functions/lib/access/store';
import { handleApiEvent } from '../../functions/lib/api/routes';
import { type Config, parseConfig } from '../../functions/lib/core/config';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { SimulatedLambda } from '../../dev/simulated-services';
import { apiDepsOf, mockedStepFunctions } from '../support/api-stack';
import { ADMIN, type ApiAnswer, type EventSpec, httpEvent, parse } from '../support/http-api';
import { roleFacts, testPg, uniqueName } from '../support/pg';

const ACCOUNT = '123456789012';
const TABLE = 'rds-iam-access-test-access-requests';
const ONBOARD_SM = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-onboard`;
const OFFBOARD_SM = `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-offboard`;
const roleArn = (name: string): string => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const sessionOf = (role: string, session = `${role}-session`): string => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${session}`;

const POLICIES = [
  {
    name: 'orders-write',
    match: { targets: ['orders'], dbRoles: ['app_write'] },
    approvers: [roleArn('dba-*'), roleArn('platform-admin')],
    required: 2,
    denyThreshold: 2,
    pendingTtl: 'PT1H',
    defaultDuration: 'PT1H',
    maxDuration: 'PT4H',
    reason: { required: true, pattern: '^INC-[0-9]+' },
  },
  { name: 'orders-read', match: { targets: ['orders'], dbRoles: ['app_read'] }, autoApprove: { maxDuration: 'PT2H' } },
];

let sb: Sandbox;
let config: Config;
let sfn: AwsClientStub<SFNClient>;
let lambda: ReturnType<SimulatedLambda['install']>;
let clock: Date;
let approvedCalls: string[];

beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  sb.aws.locks.addTable(TABLE, { [BY_STATE_INDEX]: BY_STATE_KEYS });
  config = parseConfig({ ...sb.config, approvalPolicies: POLICIES });
  sfn = mockedStepFunctions(sb);
  lambda = new SimulatedLambda(FUNCTIONS).install();
  clock = new Date();
  approvedCalls = [];
});
afterEach(() => {
  sfn.restore();
  lambda.restore();
  sb.restore();
});

const call = async (spec: EventSpec): Promise<ApiAnswer> =>
  parse(
    await handleApiEvent(httpEvent(spec), {
      ...apiDepsOf(config, { onboarding: ONBOARD_SM, offboarding: OFFBOARD_SM }),
      accessRequests: {
        store: dynamoAccessRequestStore(new DynamoDBClient({ region: 'eu-west-1' }), TABLE),
        now: () => clock,
        onApproved: async (r) => {
          approvedCalls.push(r.requestId);
        },
        onEnding: async () => undefined,
      },
    }),
  );

const stored = (requestId: string): AccessRequest | undefined => {
  const doc = sb.aws.locks.addTable(TABLE).get(requestId)?.doc?.S;
  return doc ? (JSON.parse(doc) as AccessRequest) : undefined;
};

/** A role that exists in IAM, and a request for write access to orders by that role for itself. */
const writeRequest = async (extra: Record<string, unknown> = {}) => {
  const name = uniqueName('alice');
  const principalArn = sb.aws.iam.addRole(name);
  const r = await call({
    routeKey: 'POST /access-requests',
    caller: sessionOf(name),
    body: { principalArn, target: 'orders', dbRoles: ['app_write'], databases: ['app'], reason: 'INC-42', duration: 'PT2H', ...extra },
  });
  return { name, principalArn, r, requestId: String(r.body.requestId), planHash: String(r.body.planHash) };
};

const decide = (kind: 'approve' | 'deny' | 'cancel', requestId: string, caller: string, body?: unknown) =>
  call({ routeKey: `POST /access-requests/{requestId}/${kind}`, caller, pathParameters: { requestId }, body });

describe('POST /access-requests under an approval policy', () => {
  it('stores the request PENDING_APPROVAL and answers the policy, the approvals needed, the deadline and the planHash; nothing is granted', async () => {
    const { name, principalArn, r, requestId } = await writeRequest({ ticket: 'CHG-7' });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({
      requestId,
      kind: 'access-request',
      status: 'PENDING_APPROVAL',
      policy: 'orders-write',
      approvalsRequired: 2,
      approvalExpiresAt: new Date(clock.getTime() + 3_600_000).toISOString(),
      planHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      duration: 'PT2H',
      location: `/access-requests/${requestId}`,
    });
    expect(requestId).toMatch(/^self-[0-9a-f]{16}-req_/);
    // Nothing granted, nothing started: no execution, no database user, no IAM statement.
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect((await roleFacts(name)).exists).toBe(false);
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
    expect(approvedCalls).toEqual([]);
    expect(stored(requestId)).toMatchObject({
      state: 'PENDING_APPROVAL',
      subject: principalArn,
      ticket: 'CHG-7',
      plan: {
        target: 'orders',
        dbUser: name,
        dbRoles: ['app_write'],
        databases: ['app'],
        principalArn,
        durationSeconds: 7200,
        resourceId: expect.stringMatching(/^db-/),
      },
    });
  });

  it('the dry run shows the same answer beside the plan, and stores nothing', async () => {
    const name = uniqueName('alice');
    const principalArn = sb.aws.iam.addRole(name);
    const body = { requestId: 'DRY-1', principalArn, target: 'orders', dbRoles: ['app_write'], reason: 'INC-1' };
    const dry = await call({ routeKey: 'POST /access-requests', caller: ADMIN, body, query: { dryRun: 'true' } });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({
      dryRun: true,
      kind: 'onboarding',
      outcome: 'created',
      accessRequest: { status: 'PENDING_APPROVAL', policy: 'orders-write', approvalsRequired: 2, duration: 'PT1H' },
    });
    expect(stored('DRY-1')).toBeUndefined();
    const real = await call({ routeKey: 'POST /access-requests', caller: ADMIN, body });
    expect(real.body.planHash).toBe((dry.body.accessRequest as { planHash: string }).planHash);
  });

  it('an auto-approving policy approves it at once, and the activation seam is called once; still nothing granted here', async () => {
    const name = uniqueName('reader');
    const principalArn = sb.aws.iam.addRole(name);
    const r = await call({
      routeKey: 'POST /access-requests',
      caller: sessionOf(name),
      body: { principalArn, target: 'orders', dbRoles: ['app_read'], duration: 'PT30M' },
    });
    expect(r).toMatchObject({ status: 202, body: { status: 'APPROVED', policy: 'orders-read', approvalsRequired: 0, duration: 'PT30M' } });
    expect(approvedCalls).toEqual([r.body.requestId]);
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('the same request sent again answers 200 with it; another request under the same id is a 409', async () => {
    const name = uniqueName('alice');
    const principalArn = sb.aws.iam.addRole(name);
    const body = { requestId: 'SAME-1', principalArn, target: 'orders', dbRoles: ['app_write'], reason: 'INC-1' };
    expect((await call({ routeKey: 'POST /access-requests', body })).status).toBe(202);
    expect(await call({ routeKey: 'POST /access-requests', body })).toMatchObject({ status: 200, body: { requestId: 'SAME-1', status: 'PENDING_APPROVAL' } });
    expect(await call({ routeKey: 'POST /access-requests', body: { ...body, reason: 'INC-2' } })).toMatchObject({
      status: 409,
      body: { error: 'RequestConflict' },
    });
  });

  it('an id an execution already has (a request that ran) is a 409, and nothing is stored', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('alice'));
    const executionArn = `${ONBOARD_SM.replace(':stateMachine:', ':execution:')}:RAN-1`;
    sfn.on(DescribeExecutionCommand, { executionArn }).resolves({
      executionArn,
      stateMachineArn: ONBOARD_SM,
      name: 'RAN-1',
      status: 'SUCCEEDED',
      startDate: new Date(),
      stopDate: new Date(),
      input: JSON.stringify({ requestId: 'RAN-1' }),
      $metadata: {},
    });
    const r = await call({
      routeKey: 'POST /access-requests',
      body: { requestId: 'RAN-1', principalArn, target: 'orders', dbRoles: ['app_write'], reason: 'INC-1' },
    });
    expect(r).toMatchObject({ status: 409, body: { error: 'RequestConflict' } });
    expect(stored('RAN-1')).toBeUndefined();
  });

  it('without a matching policy, a request runs as before; a duration, start or ticket is refused there, naming the field', async () => {
    const name = uniqueName('analyst');
    const principalArn = sb.aws.iam.addRole(name);
    const ok = await call({
      routeKey: 'POST /access-requests',
      body: { requestId: uniqueName('plain'), principalArn, target: 'analytics', dbRoles: ['reporting'] },
    });
    expect(ok).toMatchObject({ status: 202, body: { kind: 'onboarding', status: 'RUNNING' } });
    for (const field of ['duration', 'startAt', 'ticket']) {
      const r = await call({ routeKey: 'POST /access-requests', body: { principalArn, target: 'analytics', [field]: 'PT1H' } });
      expect(r, field).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field } } });
    }
  });
});

describe('deciding', () => {
  it('the requester and the subject can never approve (403), even when they are approvers of the policy', async () => {
    // The administrator asks for dba-bob: both are approvers of the policy; neither may approve this request.
    const bob = uniqueName('dba-bob');
    const principalArn = sb.aws.iam.addRole(bob);
    const r = await call({
      routeKey: 'POST /access-requests',
      caller: ADMIN,
      body: { principalArn, target: 'orders', dbRoles: ['app_write'], reason: 'INC-3' },
    });
    const requestId = String(r.body.requestId);
    const before = stored(requestId);
    for (const [who, caller] of [
      ['requester', ADMIN],
      ['requester, another session', sessionOf('platform-admin', 'john')],
      ['subject', sessionOf(bob)],
    ]) {
      const a = await decide('approve', requestId, caller, { planHash: r.body.planHash });
      expect(a, who).toMatchObject({ status: 403, body: { error: 'SelfApproval' } });
    }
    expect(stored(requestId)).toEqual(before);
  });

  it('a caller that is no approver may not approve: 404 when it may not even read the request, 403 when it may (an auditor)', async () => {
    const { requestId, planHash } = await writeRequest();
    expect(await decide('approve', requestId, sessionOf('developer'), { planHash })).toMatchObject({ status: 404 });
    expect(await decide('approve', requestId, ADMIN.replace('platform-admin', 'auditor'), { planHash })).toMatchObject({
      status: 403,
      body: { error: 'NotAuthorized' },
    });
  });

  it('N of M: the first approval leaves it pending, the second approves it; an approver votes once', async () => {
    const { requestId, planHash } = await writeRequest();
    const one = await decide('approve', requestId, sessionOf('dba-1'), { planHash });
    expect(one).toMatchObject({ status: 200, body: { status: 'PENDING_APPROVAL', approvals: { required: 2, approved: 1 } } });
    expect(await decide('approve', requestId, sessionOf('dba-1', 'again'), { planHash })).toMatchObject({ status: 409, body: { error: 'AlreadyVoted' } });
    const two = await decide('approve', requestId, sessionOf('dba-2'), { planHash });
    expect(two).toMatchObject({ status: 200, body: { status: 'APPROVED', approvals: { approved: 2 } } });
    expect(approvedCalls).toEqual([requestId]);
  });

  it('approving after the approval deadline is a 409 and changes nothing', async () => {
    const { requestId, planHash } = await writeRequest();
    expect((await decide('approve', requestId, sessionOf('dba-1'), { planHash })).status).toBe(200);
    const before = stored(requestId);
    clock = new Date(Date.parse(String(before?.approvalExpiresAt)));
    const late = await decide('approve', requestId, sessionOf('dba-2'), { planHash });
    expect(late).toMatchObject({ status: 409, body: { error: 'ApprovalExpired', details: { approvalExpiresAt: before?.approvalExpiresAt } } });
    expect(stored(requestId)).toEqual(before);
    expect(approvedCalls).toEqual([]);
    // Read back, it is expired, though no sweeper has written that yet.
    const read = await call({ routeKey: 'GET /access-requests/{requestId}', pathParameters: { requestId } });
    expect(read.body).toMatchObject({ status: 'APPROVAL_EXPIRED', recordedState: 'PENDING_APPROVAL' });
  });

  it("an approval of another plan than the request's is a 409 and changes nothing", async () => {
    const { requestId } = await writeRequest();
    const before = stored(requestId);
    const r = await decide('approve', requestId, sessionOf('dba-1'), { planHash: `sha256:${'0'.repeat(64)}` });
    expect(r).toMatchObject({ status: 409, body: { error: 'PlanChanged' } });
    expect(stored(requestId)).toEqual(before);
  });

  it('two approvals crossing the threshold at once: exactly one approves it, the other is told it is decided', async () => {
    const { requestId, planHash } = await writeRequest();
    await decide('approve', requestId, sessionOf('dba-1'), { planHash });
    const answers = await Promise.all(['dba-2', 'dba-3'].map((v) => decide('approve', requestId, sessionOf(v), { planHash })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(answers.find((a) => a.status === 200)?.body.status).toBe('APPROVED');
    expect(answers.find((a) => a.status === 409)?.body.error).toBe('RequestStateConflict');
    expect(approvedCalls).toEqual([requestId]);
    expect(stored(requestId)?.votes).toHaveLength(2);
  });

  it('three approvals at once from none (2 needed): one approves, one is counted before it, one is refused; one activation', async () => {
    const { requestId, planHash } = await writeRequest();
    const answers = await Promise.all(['dba-1', 'dba-2', 'dba-3'].map((v) => decide('approve', requestId, sessionOf(v), { planHash })));
    expect(answers.map((a) => `${a.status} ${String(a.body.status ?? a.body.error)}`).sort()).toEqual([
      '200 APPROVED',
      '200 PENDING_APPROVAL',
      '409 RequestStateConflict',
    ]);
    expect(approvedCalls).toEqual([requestId]);
    expect(stored(requestId)).toMatchObject({ state: 'APPROVED', version: 3 });
  });

  it('the deny threshold: one denial of two leaves it pending, the second denies it; a denial needs a comment', async () => {
    const { requestId } = await writeRequest();
    expect(await decide('deny', requestId, sessionOf('dba-1'), {})).toMatchObject({ status: 400, body: { details: { field: 'comment' } } });
    expect(await decide('deny', requestId, sessionOf('dba-1'), { comment: 'too broad' })).toMatchObject({
      status: 200,
      body: { status: 'PENDING_APPROVAL', approvals: { denied: 1 } },
    });
    expect(await decide('deny', requestId, sessionOf('dba-2'), { comment: 'agreed' })).toMatchObject({ status: 200, body: { status: 'DENIED' } });
    expect(approvedCalls).toEqual([]);
  });

  it('cancel: by its requester; not by an approver; then nobody can approve it', async () => {
    const { name, requestId, planHash } = await writeRequest();
    expect(await decide('cancel', requestId, sessionOf('dba-1'))).toMatchObject({ status: 403, body: { error: 'NotAuthorized' } });
    expect(await decide('cancel', requestId, sessionOf(name), { comment: 'not needed' })).toMatchObject({ status: 200, body: { status: 'CANCELLED' } });
    expect(await decide('approve', requestId, sessionOf('dba-1'), { planHash })).toMatchObject({
      status: 409,
      body: { error: 'RequestStateConflict', details: { state: 'CANCELLED' } },
    });
    expect(await decide('cancel', requestId, sessionOf(name))).toMatchObject({ status: 409 });
  });
});

describe('reading', () => {
  it('GET /access-requests/{id}: votes, deadlines and the timeline; others than its parties and approvers get a 404', async () => {
    const { name, requestId, planHash } = await writeRequest();
    await decide('approve', requestId, sessionOf('dba-1'), { planHash });
    const r = await call({ routeKey: 'GET /access-requests/{requestId}', caller: sessionOf(name), pathParameters: { requestId } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      requestId,
      status: 'PENDING_APPROVAL',
      policy: 'orders-write',
      planHash,
      reason: 'INC-42',
      deadlines: { approvalExpiresAt: expect.any(String) },
      votes: [{ decision: 'approve', by: sessionOf('dba-1'), principal: roleArn('dba-1'), planHash }],
      timeline: [
        { event: 'requested', state: 'PENDING_APPROVAL', by: sessionOf(name), comment: 'INC-42' },
        { event: 'approve', state: 'PENDING_APPROVAL', by: sessionOf('dba-1') },
      ],
    });
    expect(await call({ routeKey: 'GET /access-requests/{requestId}', caller: sessionOf('developer'), pathParameters: { requestId } })).toMatchObject({
      status: 404,
      body: { error: 'RequestNotFound' },
    });
  });

  it('GET /approvals: what the caller may decide now; not its own, not what it voted on', async () => {
    const { name, requestId, planHash } = await writeRequest();
    const ids = async (caller: string) =>
      ((await call({ routeKey: 'GET /approvals', caller })).body.approvals as Array<{ requestId: string }>).map((a) => a.requestId);
    expect(await ids(sessionOf('dba-1'))).toContain(requestId);
    expect(await ids(sessionOf(name))).not.toContain(requestId);
    expect(await ids(sessionOf('developer'))).toEqual([]);
    await decide('approve', requestId, sessionOf('dba-1'), { planHash });
    expect(await ids(sessionOf('dba-1'))).not.toContain(requestId);
    expect(await ids(sessionOf('dba-2'))).toContain(requestId);
  });

  it('GET /access-requests filters by status, requester, subject and target', async () => {
    const a = await writeRequest();
    const b = await writeRequest();
    await decide('cancel', b.requestId, sessionOf(b.name));
    const list = async (query: Record<string, string>) =>
      ((await call({ routeKey: 'GET /access-requests', query })).body.accessRequests as Array<{ requestId: string }>).map((r) => r.requestId);
    expect(await list({ status: 'CANCELLED', subject: b.principalArn })).toEqual([b.requestId]);
    expect(await list({ status: 'PENDING_APPROVAL', requester: roleArn(a.name) })).toEqual([a.requestId]);
    expect(await list({ subject: a.principalArn, target: 'orders' })).toEqual([a.requestId]);
    expect(await list({ subject: a.principalArn, target: 'analytics' })).toEqual([]);
    expect(await call({ routeKey: 'GET /access-requests', query: { status: 'pending' } })).toMatchObject({
      status: 400,
      body: { details: { field: 'status' } },
    });
    expect(await call({ routeKey: 'GET /access-requests', query: { state: 'CANCELLED' } })).toMatchObject({ status: 400, body: { error: 'ValidationError' } });
  });
});

describe('bad input: 400 naming the field, nothing stored', () => {
  it.each([
    ['a duration in months', { duration: 'P1M' }, 'duration'],
    ['a duration that is not ISO 8601', { duration: '2h' }, 'duration'],
    ['a duration over the policy maximum', { duration: 'PT5H' }, 'duration'],
    ['no reason', { reason: undefined }, 'reason'],
    ['a reason off the pattern', { reason: 'because' }, 'reason'],
    ['a start in the past', { startAt: '2020-01-01T00:00:00Z' }, 'startAt'],
    ['a start without offset', { startAt: '2099-01-01T00:00:00' }, 'startAt'],
    ['a ticket that is not text', { ticket: 42 }, 'ticket'],
  ])('POST /access-requests with %s', async (_, extra, field) => {
    const { r } = await writeRequest(extra);
    expect(r).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field } } });
    expect(sb.aws.locks.addTable(TABLE).size).toBe(0);
  });

  it.each([
    ['approve without planHash', 'approve', {}, 'planHash'],
    ['approve with a malformed planHash', 'approve', { planHash: 'abc' }, 'planHash'],
    ['approve with an unknown field', 'approve', { planHash: `sha256:${'0'.repeat(64)}`, force: true }, 'force'],
    ['deny with an empty comment', 'deny', { comment: ' ' }, 'comment'],
    ['cancel with an unknown field', 'cancel', { why: 'x' }, 'why'],
  ] as const)('%s', async (_, kind, body, field) => {
    const { requestId } = await writeRequest();
    const before = stored(requestId);
    const r = await decide(kind, requestId, sessionOf('dba-1'), body);
    expect(r).toMatchObject({ status: 400, body: { error: 'ValidationError', details: { field } } });
    expect(stored(requestId)).toEqual(before);
  });

  it('an unknown request id is a 404; a malformed one a 400', async () => {
    expect(await decide('approve', 'nope', sessionOf('dba-1'), { planHash: `sha256:${'0'.repeat(64)}` })).toMatchObject({
      status: 404,
      body: { error: 'RequestNotFound' },
    });
    expect(await decide('approve', 'bad id!', sessionOf('dba-1'), { planHash: `sha256:${'0'.repeat(64)}` })).toMatchObject({
      status: 400,
      body: { details: { field: 'requestId' } },
    });
  });
});
