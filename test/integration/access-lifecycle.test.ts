/**
 * The whole life of an access request under an approval policy (issue 15), on the real PostgreSQL and the real
 * statemachines/activate.asl.json, onboard.asl.json and end.asl.json: asked, approved by two approvers, activated (the
 * request's own onboarding as a child execution), ended by its schedule, with an open session that ran SET ROLE ended
 * and the proof recorded; overlapping grants; revoke; a lost schedule that the sweeper makes good; a target replaced
 * between approval and activation. Time: the end schedule is fired by the test (SimulatedScheduler.fireDue at its
 * time), the sweeper is the deployed handler called after the deadline.
 */
import { escapeIdentifier } from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accessRequestsFromEnv } from '../../functions/api';
import { handler as sweepHandler } from '../../functions/access-sweep';
import { recordDepsFromEnv } from '../../functions/lib/access/deps';
import { endRequestsOfRemovedPerson, voidVotesOfRemovedPerson } from '../../functions/lib/access/identity';
import { startNamedExecution } from '../../functions/lib/access/start';
import type { AccessRequest } from '../../functions/lib/access/lifecycle';
import { dynamoAccessRequestStore } from '../../functions/lib/access/store';
import { handleApiEvent } from '../../functions/lib/api/routes';
import { dynamoClient } from '../../functions/lib/core/clients';
import { parsePrincipalArn } from '../../functions/lib/core/arn';
import { grantDeps } from '../../functions/lib/iam/deps';
import { simulateConnect } from '../../functions/lib/iam/verify';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { SimulatedLambda } from '../../dev/simulated-services';
import { LOCAL_ACCESS } from '../../dev/stack';
import { apiDepsOf } from '../support/api-stack';
import { ADMIN, type ApiAnswer, type EventSpec, httpEvent, parse } from '../support/http-api';
import { attempt, loginClient, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

const ACCOUNT = '123456789012';
const roleArn = (name: string): string => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const sessionOf = (role: string): string => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${role}-session`;

const POLICIES = [
  {
    name: 'orders-write',
    match: { targets: ['orders'], dbRoles: ['app_write'] },
    approvers: [roleArn('dba-*')],
    required: 2,
    pendingTtl: 'PT1H',
    defaultDuration: 'PT1H',
    maxDuration: 'PT4H',
    maxTotalDuration: 'PT6H',
    reason: { required: true, pattern: '^INC-[0-9]+' },
  },
  { name: 'orders-read', match: { targets: ['orders'], dbRoles: ['app_read'] }, approvers: [roleArn('dba-*')], required: 1, defaultDuration: 'PT2H' },
];

let sb: Sandbox;
let lambda: ReturnType<SimulatedLambda['install']>;
let lambdas: SimulatedLambda;
/** CreateDbUser waits for this before it runs (a test holds an activation in the middle). */
let gate: Promise<void> = Promise.resolve();
const functions = {
  ...FUNCTIONS,
  dbUserCreate: { ...FUNCTIONS.dbUserCreate, handler: async (input: never) => gate.then(() => FUNCTIONS.dbUserCreate.handler(input)) },
};
beforeEach(() => {
  gate = Promise.resolve();
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5, approvalPolicies: POLICIES, functions });
  sb.aws.iam.addRole('alice');
  lambdas = new SimulatedLambda(FUNCTIONS);
  lambda = lambdas.install();
});
afterEach(() => {
  lambda.restore();
  sb.restore();
});

const call = async (spec: EventSpec): Promise<ApiAnswer> =>
  parse(
    await handleApiEvent(httpEvent(spec), {
      ...apiDepsOf(sb.config, { onboarding: sb.sfn.arns.onboard, offboarding: sb.sfn.arns.offboard }),
      accessRequests: accessRequestsFromEnv(),
    }),
  );
const store = () => dynamoAccessRequestStore(dynamoClient(), LOCAL_ACCESS.table);
const record = async (id: string): Promise<AccessRequest> => (await store().get(id)) as AccessRequest;

/** Every execution started so far has ended, and those they started too (an activation starts an onboarding, a revoke an end). */
const settle = async (): Promise<void> => {
  for (let seen = -1; seen !== sb.runner.executions.size; ) {
    seen = sb.runner.executions.size;
    await sb.runner.idle();
  }
};

/** Asks for `dbRoles` for `dbUser` (principal alice) under the orders policies, and has two approvers approve it. */
const approvedGrant = async (dbUser: string, dbRoles: string[], extra: Record<string, unknown> = {}): Promise<string> => {
  const requestId = uniqueName('acc');
  const asked = await call({
    routeKey: 'POST /access-requests',
    caller: ADMIN,
    body: { requestId, principalArn: roleArn('alice'), dbUser, target: 'orders', dbRoles, reason: 'INC-42 hotfix', ...extra },
  });
  expect(asked.status, JSON.stringify(asked.body)).toBe(202);
  const { planHash, approvalsRequired } = asked.body as { planHash: string; approvalsRequired: number };
  for (const approver of ['dba-one', 'dba-two'].slice(0, approvalsRequired)) {
    const voted = await call({
      routeKey: 'POST /access-requests/{requestId}/approve',
      caller: sessionOf(approver),
      pathParameters: { requestId },
      body: { planHash },
    });
    expect(voted.status, JSON.stringify(voted.body)).toBe(200);
  }
  await settle();
  return requestId;
};

const password = 'p-test-only';
/** A password, as a superuser sets it: only so the test can log in as the user (tokens are the way in on RDS). */
const loginAs = async (dbUser: string) => {
  const s = await superClient();
  try {
    await s.query(`ALTER ROLE ${escapeIdentifier(dbUser)} PASSWORD '${password}'`);
  } finally {
    await s.end();
  }
  return loginClient(dbUser, password, 'postgres');
};

const connectDecision = async (dbUser: string): Promise<string> => {
  const rds = sb.aws.rds.databases.get('instance/orders-db');
  const resource = `arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:${rds?.resourceId}/${dbUser}`;
  return (await simulateConnect(grantDeps().iam, parsePrincipalArn(roleArn('alice')), resource)).decision;
};

/** Fires the request's end schedule at its time, as EventBridge Scheduler would (nothing later is due yet), and lets the end run. */
const expire = async (requestId: string): Promise<number> => {
  const schedule = [...sb.scheduler.schedules.values()].find((x) => x.name === `${requestId}.end`);
  if (!schedule) throw new Error(`no end schedule for ${requestId}`);
  expect(schedule.at.getTime()).toBeGreaterThanOrEqual(Date.parse((await record(requestId)).expiresAt as string));
  const t = Date.now();
  expect(await sb.scheduler.fireDue(schedule.at)).toBe(1);
  await settle();
  return Date.now() - t;
};

describe('an access request from asking to its end', () => {
  it('two approvals activate it; at expiry the open session (after SET ROLE) is ended, login blocked, IAM denies, and the proof is recorded', async () => {
    const dbUser = uniqueName('inc');
    const requestId = await approvedGrant(dbUser, ['app_write'], { duration: 'PT30M' });

    const active = await record(requestId);
    expect(active.state).toBe('ACTIVE');
    expect(Date.parse(active.expiresAt as string) - Date.parse(active.approvedAt as string)).toBeGreaterThanOrEqual(30 * 60_000);
    expect((await roleFacts(dbUser)).memberOf).toEqual(expect.arrayContaining(['app_write', 'rds_iam']));
    expect(await connectDecision(dbUser)).toBe('allowed');
    expect([...sb.scheduler.schedules.values()].map((s) => s.name)).toContain(`${requestId}.end`);
    expect(sb.runner.find('onboard', requestId)?.status).toBe('SUCCEEDED');

    const session = await loginAs(dbUser);
    await session.query('SET ROLE app_write');
    expect(await attempt(session, 'SELECT 1 AS ok')).toEqual({ rows: [{ ok: 1 }] });

    const took = await expire(requestId);
    expect(took, 'the end ran within 10 s of its schedule').toBeLessThan(10_000);
    const ended = await record(requestId);
    expect(ended.state).toBe('ENDED');
    expect(ended.endReason).toBe('EXPIRED');
    expect(ended.proof).toMatchObject({
      database: { found: true, sessionsTerminated: 1, verified: { sessionsLeft: 0, rolesLeft: [], canLogin: false } },
      iam: { statementRemoved: true, check: { decision: 'implicitDeny' } },
    });
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await expect(loginClient(dbUser, password, 'postgres')).rejects.toThrow(/not permitted to log in/);
    expect(await connectDecision(dbUser)).toBe('implicitDeny');
    expect((await roleFacts(dbUser)).memberOf).not.toContain('app_write');
    expect(sb.scheduler.schedules.size).toBe(0);

    const published = sb.events.events.filter((e) => e.detail.requestId === requestId).map((e) => e.detailType);
    expect(published).toEqual(expect.arrayContaining(['Access Request Activated', 'Access Request Ended']));
    expect(sb.sns.published.some((m) => m.message.includes(requestId) && m.message.includes('Access Request Ended'))).toBe(true);
    // One end execution, whatever started it.
    expect(sb.runner.find('end', requestId)?.status).toBe('SUCCEEDED');
  });

  it('overlapping grants A (app_read, 1 h) and B (app_read and app_write, 2 h): access survives A ending, and is gone after B ends', async () => {
    const dbUser = uniqueName('overlap');
    const a = await approvedGrant(dbUser, ['app_read'], { duration: 'PT1H' });
    const b = await approvedGrant(dbUser, ['app_read', 'app_write'], { duration: 'PT2H' });
    expect((await record(a)).state).toBe('ACTIVE');
    expect((await record(b)).state).toBe('ACTIVE');

    await expire(a);
    expect((await record(a)).state).toBe('ENDED');
    const facts = await roleFacts(dbUser);
    expect(facts).toMatchObject({ exists: true, canLogin: true });
    expect(facts.memberOf).toEqual(expect.arrayContaining(['app_read', 'app_write']));
    expect(await connectDecision(dbUser)).toBe('allowed');

    await expire(b);
    expect((await record(b)).state).toBe('ENDED');
    expect(await roleFacts(dbUser)).toMatchObject({ canLogin: false });
    expect((await roleFacts(dbUser)).memberOf).not.toContain('app_read');
    expect((await roleFacts(dbUser)).memberOf).not.toContain('app_write');
    expect(await connectDecision(dbUser)).toBe('implicitDeny');
  });

  it('a requester ends their own access early (revoke): ENDED with reason REVOKED, the schedule deleted', async () => {
    const dbUser = uniqueName('early');
    const requestId = await approvedGrant(dbUser, ['app_read']);
    const revoked = await call({ routeKey: 'POST /access-requests/{requestId}/revoke', caller: ADMIN, pathParameters: { requestId }, body: {} });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    await settle();
    expect(await record(requestId)).toMatchObject({ state: 'ENDED', endReason: 'REVOKED' });
    expect(await roleFacts(dbUser)).toMatchObject({ canLogin: false });
    expect(sb.scheduler.schedules.size).toBe(0);
    // Its onboarding cannot be run again as a plain request: that would grant it with no end.
    const retried = await call({ routeKey: 'POST /requests/{requestId}/retry', caller: ADMIN, pathParameters: { requestId }, body: {} });
    expect(retried).toMatchObject({ status: 409, body: { error: 'RequestConflict' } });
    expect((retried.body as { message: string }).message).toContain('is the grant of an access request');
    expect(sb.runner.find('onboard', `${requestId}.2`)).toBeUndefined();
    // The schedule firing anyway (it was lost in flight) starts nothing new: the end is one execution.
    const again = await call({ routeKey: 'POST /access-requests/{requestId}/revoke', caller: ADMIN, pathParameters: { requestId }, body: {} });
    expect(again.status).toBe(409);
  });

  it('a lost schedule: the sweeper ends the grant once its expiresAt has passed', async () => {
    const dbUser = uniqueName('lost');
    const requestId = await approvedGrant(dbUser, ['app_read'], { duration: 'PT2S' });
    sb.scheduler.lose(`${requestId}.end`);
    expect(await sweepHandler({} as never)).toMatchObject({ endsStarted: [] });
    await new Promise((r) => setTimeout(r, 2100));
    expect((await sweepHandler({} as never)).endsStarted).toContain(requestId);
    await settle();
    expect(await record(requestId)).toMatchObject({ state: 'ENDED', endReason: 'EXPIRED' });
    expect(await roleFacts(dbUser)).toMatchObject({ canLogin: false });
  });

  it("the target's resource id changing between approval and activation voids the approval: nothing is granted", async () => {
    const dbUser = uniqueName('replaced');
    const requestId = uniqueName('acc');
    const asked = await call({
      routeKey: 'POST /access-requests',
      caller: ADMIN,
      body: { requestId, principalArn: roleArn('alice'), dbUser, target: 'orders', dbRoles: ['app_read'], reason: 'INC-7' },
    });
    const { planHash } = asked.body as { planHash: string };
    // The instance is replaced under the same identifier (a restore from a snapshot): another DbiResourceId.
    const instance = sb.aws.rds.databases.get('instance/orders-db');
    if (!instance) throw new Error('no orders-db in the simulation');
    instance.resourceId = 'db-REPLACEDREPLACEDREPLACED1';
    await call({ routeKey: 'POST /access-requests/{requestId}/approve', caller: sessionOf('dba-one'), pathParameters: { requestId }, body: { planHash } });
    await settle();
    expect(await record(requestId)).toMatchObject({ state: 'ACTIVATION_FAILED', endReason: 'PLAN_INVALID' });
    expect((await roleFacts(dbUser)).exists).toBe(false);
    expect(sb.runner.find('onboard', requestId)).toBeUndefined();
  });

  it('a revoke while the grant is being made: the activation finishes, then ends it at once; no access is left', async () => {
    const dbUser = uniqueName('racing');
    const requestId = uniqueName('acc');
    let release = (): void => undefined;
    gate = new Promise((r) => {
      release = r;
    });
    const asked = await call({
      routeKey: 'POST /access-requests',
      caller: ADMIN,
      body: { requestId, principalArn: roleArn('alice'), dbUser, target: 'orders', dbRoles: ['app_read'], reason: 'INC-9' },
    });
    const { planHash } = asked.body as { planHash: string };
    await call({ routeKey: 'POST /access-requests/{requestId}/approve', caller: sessionOf('dba-one'), pathParameters: { requestId }, body: { planHash } });
    for (let i = 0; i < 200 && (await record(requestId)).state !== 'ACTIVATING'; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await record(requestId)).state).toBe('ACTIVATING');
    const revoked = await call({ routeKey: 'POST /access-requests/{requestId}/revoke', caller: ADMIN, pathParameters: { requestId }, body: {} });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(await record(requestId)).toMatchObject({ state: 'ACTIVATING', endRequested: 'REVOKED' });
    release();
    await settle();
    expect(await record(requestId)).toMatchObject({ state: 'ENDED', endReason: 'REVOKED' });
    expect(await roleFacts(dbUser)).toMatchObject({ canLogin: false });
    expect((await roleFacts(dbUser)).memberOf).not.toContain('app_read');
    expect(await connectDecision(dbUser)).toBe('implicitDeny');
  });

  it('the identity provider removing the person: a pending request is cancelled (a later approval grants nothing), an active grant ends', async () => {
    const dbUser = uniqueName('leaver');
    const active = await approvedGrant(dbUser, ['app_read']);
    const pendingId = uniqueName('acc');
    const asked = await call({
      routeKey: 'POST /access-requests',
      caller: ADMIN,
      body: { requestId: pendingId, principalArn: roleArn('alice'), dbUser, target: 'orders', dbRoles: ['app_write'], reason: 'INC-11' },
    });
    const { planHash } = asked.body as { planHash: string };

    const ended = await endRequestsOfRemovedPerson(
      { ...recordDepsFromEnv(), startEnd: (name, input) => startNamedExecution(sb.sfn.arns.end, name, input) },
      { target: 'orders', dbUser },
    );
    expect(ended.map((e) => e.state).sort()).toEqual(['ACTIVE', 'CANCELLED']);
    await settle();
    expect(await record(active)).toMatchObject({ state: 'ENDED', endReason: 'IDENTITY_REMOVED' });
    expect(await record(pendingId)).toMatchObject({ state: 'CANCELLED' });
    const late = await call({
      routeKey: 'POST /access-requests/{requestId}/approve',
      caller: sessionOf('dba-one'),
      pathParameters: { requestId: pendingId },
      body: { planHash },
    });
    expect(late.status).toBe(409);
    await settle();
    expect(await roleFacts(dbUser)).toMatchObject({ canLogin: false });
  });

  it('an extension is reviewed like a request, counts from the end of the grant it extends, capped over the chain', async () => {
    const dbUser = uniqueName('extended');
    const first = await approvedGrant(dbUser, ['app_write'], { duration: 'PT4H' });
    const tooLong = await call({
      routeKey: 'POST /access-requests/{requestId}/extend',
      caller: ADMIN,
      pathParameters: { requestId: first },
      body: { duration: 'PT3H' },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ error: 'ValidationError' });
    expect((tooLong.body as { message: string }).message).toMatch(
      /duration: PT3H is longer than what approval policy "orders-write" leaves this grant: 1h59m|duration: PT3H is longer/,
    );

    const extended = await call({
      routeKey: 'POST /access-requests/{requestId}/extend',
      caller: ADMIN,
      pathParameters: { requestId: first },
      body: { duration: 'PT1H' },
    });
    expect(extended.status, JSON.stringify(extended.body)).toBe(202);
    const {
      requestId: second,
      planHash,
      status,
      approvalsRequired,
    } = extended.body as { requestId: string; planHash: string; status: string; approvalsRequired: number };
    expect({ status, approvalsRequired }).toEqual({ status: 'PENDING_APPROVAL', approvalsRequired: 2 });
    expect(await record(second)).toMatchObject({
      extendsRequest: first,
      chainStartedAt: (await record(first)).timeline.find((t) => t.event === 'activated')?.at,
    });
    for (const approver of ['dba-one', 'dba-two'])
      await call({
        routeKey: 'POST /access-requests/{requestId}/approve',
        caller: sessionOf(approver),
        pathParameters: { requestId: second },
        body: { planHash },
      });
    await settle();
    expect((await record(second)).state).toBe('ACTIVE');

    await expire(first);
    expect((await record(first)).state).toBe('ENDED');
    expect((await roleFacts(dbUser)).memberOf).toContain('app_write');
    expect(await connectDecision(dbUser)).toBe('allowed');
    await expire(second);
    expect((await roleFacts(dbUser)).memberOf).not.toContain('app_write');
    expect(await connectDecision(dbUser)).toBe('implicitDeny');
  });

  it('what only the API decides is published too: pending, denied and cancelled, on the default bus and to approvers', async () => {
    const ask = async (requestId: string) =>
      (
        await call({
          routeKey: 'POST /access-requests',
          caller: ADMIN,
          body: { requestId, principalArn: roleArn('alice'), dbUser: uniqueName('told'), target: 'orders', dbRoles: ['app_write'], reason: 'INC-5' },
        })
      ).body as { requestId: string };
    const denied = (await ask(uniqueName('acc'))).requestId;
    const cancelled = (await ask(uniqueName('acc'))).requestId;
    await call({
      routeKey: 'POST /access-requests/{requestId}/deny',
      caller: sessionOf('dba-one'),
      pathParameters: { requestId: denied },
      body: { comment: 'not now' },
    });
    await call({ routeKey: 'POST /access-requests/{requestId}/cancel', caller: ADMIN, pathParameters: { requestId: cancelled }, body: {} });
    await Promise.all(lambdas.queued);
    const of = (id: string) => sb.events.events.filter((e) => e.detail.requestId === id).map((e) => e.detailType);
    expect(of(denied)).toEqual(['Access Request Pending', 'Access Request Denied']);
    expect(of(cancelled)).toEqual(['Access Request Pending', 'Access Request Cancelled']);
    expect(sb.sns.published.filter((m) => m.message.includes(denied)).map((m) => JSON.parse(m.message).event)).toEqual([
      'Access Request Pending',
      'Access Request Denied',
    ]);
  });

  it('an approver the identity provider removed: their vote no longer counts, and the request needs another approver', async () => {
    const requestId = uniqueName('acc');
    const asked = await call({
      routeKey: 'POST /access-requests',
      caller: ADMIN,
      body: { requestId, principalArn: roleArn('alice'), dbUser: uniqueName('voted'), target: 'orders', dbRoles: ['app_write'], reason: 'INC-12' },
    });
    const { planHash } = asked.body as { planHash: string };
    const approve = (who: string) =>
      call({ routeKey: 'POST /access-requests/{requestId}/approve', caller: sessionOf(who), pathParameters: { requestId }, body: { planHash } });
    expect((await approve('dba-one')).status).toBe(200);
    expect(await voidVotesOfRemovedPerson(recordDepsFromEnv(), roleArn('dba-one'))).toEqual([requestId]);
    const second = await approve('dba-two');
    expect((second.body as { status: string; approvals: { approved: number } }).status).toBe('PENDING_APPROVAL');
    expect((second.body as { approvals: { approved: number } }).approvals.approved).toBe(1);
    expect((await record(requestId)).votes.find((v) => v.principal === roleArn('dba-one'))?.voided).toMatch(/identity provider/);
    expect((await approve('dba-three')).body).toMatchObject({ status: 'APPROVED' });
    await settle();
    expect((await record(requestId)).state).toBe('ACTIVE');
  });
});
