/**
 * Answers a user can act on (issue 12): a revocation that found no user says so at the top of the request, and an
 * onboarding naming a database that does not exist is refused when it is sent, by the rule the dry run and the run
 * apply. End to end through the real `api` handler, the real workflows (local ASL interpreter behind the Step
 * Functions simulation at the SDK boundary), the real dbUserPlan function and a real PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiDeps, handleApiEvent } from '../../../functions/lib/api/routes';
import { ProvisioningError } from '../../../functions/lib/core/errors';
import type { Sandbox } from '../../../dev/sandbox';
import { ACCOUNT, type ApiStack, startApiStack } from '../../support/api-stack';
import { ADMIN, type ApiAnswer, httpEvent, parse } from '../../support/http-api';
import { masterClient, roleFacts, superClient, uniqueName } from '../../support/pg';

const sessionOf = (role: string): string => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${role}-session`;

let stack: ApiStack;
let sb: Sandbox;
let deps: ApiDeps;

beforeEach(() => {
  stack = startApiStack('answers');
  ({ sb, deps } = stack);
});
afterEach(() => stack.stop());

const call = async (
  routeKey: string,
  opts: { caller?: string; body?: unknown; requestId?: string; query?: Record<string, string> } = {},
  apiDeps: ApiDeps = deps,
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
      apiDeps,
    ),
  );
const get = (requestId: string, caller = ADMIN) => call('GET /requests/{requestId}', { caller, requestId });
const settled = () => stack.settled();
const executionsOf = (requestId: string): string[] => [...sb.runner.executions.keys()].filter((k) => k.includes(requestId));

describe('a revocation of a user that does not exist', () => {
  it('ends SUCCEEDED with outcome "not found" and a message at the top of GET /requests/{requestId}; a replay answers the same', async () => {
    const dbUser = uniqueName('nobody').toLowerCase();
    const requestId = uniqueName('OFF');
    const body = { requestId, dbUser, target: 'orders' };
    expect((await call('POST /revocations', { body })).status).toBe(202);
    await settled();
    const r = await get(requestId);
    expect(r.body, JSON.stringify(r.body)).toMatchObject({
      requestId,
      kind: 'offboarding',
      status: 'SUCCEEDED',
      outcome: 'not found',
      output: { status: 'not found', found: false },
    });
    expect(r.body.message).toBe(
      `database user "${dbUser}" does not exist on target "orders" (never created there, ` +
        `or already offboarded): nothing was changed in PostgreSQL; no IAM connect grant for it was found. ` +
        `Check the dbUser and target of the revocation`,
    );
    // The same request sent again runs nothing and says the same.
    const replay = await call('POST /revocations', { body });
    expect(replay.body).toMatchObject({ status: 'SUCCEEDED', outcome: 'not found', message: r.body.message });
  });

  it('a user that was there: outcome "dropped", no message; its onboarding says "created"', async () => {
    const name = uniqueName('Leaver');
    const principalArn = sb.aws.iam.addRole(name);
    const on = uniqueName('ON');
    expect((await call('POST /access-requests', { body: { requestId: on, principalArn, target: 'orders' } })).status).toBe(202);
    await settled();
    const onboarded = await get(on);
    expect(onboarded.body).toMatchObject({ status: 'SUCCEEDED', outcome: 'created' });
    expect(onboarded.body.message).toBeUndefined();
    const off = uniqueName('OFF');
    expect((await call('POST /revocations', { body: { requestId: off, dbUser: name, target: 'orders' } })).status).toBe(202);
    await settled();
    const r = await get(off);
    expect(r.body).toMatchObject({ status: 'SUCCEEDED', outcome: 'dropped', output: { status: 'dropped' } });
    expect(r.body.message).toBeUndefined();
    // Offboarded again: now it is gone, and the second revocation says so (its grant went with the first).
    const again = uniqueName('OFF');
    await call('POST /revocations', { body: { requestId: again, dbUser: name, target: 'orders' } });
    await settled();
    expect((await get(again)).body).toMatchObject({ outcome: 'not found' });
  });

  it('a user dropped by hand while its grant stayed: "not found", and the message says the grant left for it was removed', async () => {
    const name = uniqueName('Dropped');
    const principalArn = sb.aws.iam.addRole(name);
    const on = uniqueName('ON');
    expect((await call('POST /access-requests', { body: { requestId: on, principalArn, target: 'orders' } })).status).toBe(202);
    await settled();
    const sup = await superClient();
    await sup.query(`DROP ROLE "${name}"`);
    await sup.end();
    const off = uniqueName('OFF');
    // Without principalArn: the holder is found through the project's policies.
    expect((await call('POST /revocations', { body: { requestId: off, dbUser: name, target: 'orders' } })).status).toBe(202);
    await settled();
    const r = await get(off);
    expect(r.body).toMatchObject({ status: 'SUCCEEDED', outcome: 'not found', output: { found: false } });
    expect(r.body.message).toBe(
      `database user "${name}" does not exist on target "orders" (never created there, ` +
        `or already offboarded): nothing was changed in PostgreSQL; 1 IAM connect grant(s) left for it were ` +
        `removed. Check the dbUser and target of the revocation`,
    );
    expect(sb.aws.iam.attachedDocuments('role', name)).toEqual([]);
  });
});

describe('an onboarding naming a database that does not exist', () => {
  const expected = (missing: string) =>
    `databases: "${missing}" does not exist on the target (or does not allow connections); of the databases this target allows, these exist: "app", "postgres"`;

  it('is refused when sent (400 naming the field and what exists), as its dry run is, and nothing starts', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Asker'));
    const requestId = uniqueName('ON');
    const body = { requestId, principalArn, target: 'orders', databases: ['app', 'no_such_db'] };
    const real = await call('POST /access-requests', { body });
    expect(real).toMatchObject({
      status: 400,
      body: {
        error: 'UnknownDatabase',
        message: expected('no_such_db'),
        details: { field: 'databases', databases: ['no_such_db'], existing: ['app', 'postgres'] },
      },
    });
    const dry = await call('POST /access-requests', { body, query: { dryRun: 'true' } });
    expect(dry.status).toBe(400);
    expect(dry.body).toEqual(real.body);
    expect(executionsOf(requestId)).toEqual([]);
    expect(await get(requestId)).toMatchObject({ status: 404 });
    // Self-service callers get the same answer for their own principal.
    const alice = uniqueName('alice');
    const aliceRole = sb.aws.iam.addRole(alice);
    expect(
      (await call('POST /access-requests', { caller: sessionOf(alice), body: { principalArn: aliceRole, target: 'orders', databases: ['no_such_db'] } })).body,
    ).toMatchObject({ error: 'UnknownDatabase', message: expected('no_such_db') });
    expect(sb.runner.executions.size).toBe(0);
  });

  it('databases that exist: the request starts and the user gets CONNECT on them', async () => {
    const name = uniqueName('Reader');
    const principalArn = sb.aws.iam.addRole(name);
    const requestId = uniqueName('ON');
    expect((await call('POST /access-requests', { body: { requestId, principalArn, target: 'orders', databases: ['app'] } })).status).toBe(202);
    await settled();
    expect((await get(requestId)).body).toMatchObject({ status: 'SUCCEEDED', outcome: 'created' });
    const sup = await superClient();
    const { rows } = await sup.query<{ ok: boolean }>(`SELECT has_database_privilege($1, 'app', 'CONNECT') AS ok`, [name]);
    await sup.end();
    expect(rows[0].ok).toBe(true);
  });

  it('a database dropped after a request failed: the retry is refused (nothing starts); a replay of the request still answers with it', async () => {
    const database = uniqueName('gone').toLowerCase();
    // Created by the master user (CREATEDB), as a DBA on RDS would: it owns it, so it may grant CONNECT on it.
    const master = await masterClient();
    await master.query(`CREATE DATABASE "${database}"`);
    const config = {
      ...sb.config,
      targets: { ...sb.config.targets, orders: { ...sb.config.targets.orders, allowedDatabases: [...sb.config.targets.orders.allowedDatabases, database] } },
    };
    process.env.TARGETS_CONFIG = JSON.stringify(config);
    const withDb: ApiDeps = { ...deps, config };
    const name = uniqueName('Crowded');
    const principalArn = sb.aws.iam.addRole(name);
    // IAM's attached-policy quota is full: AllowConnect fails, and compensation drops the user it created.
    for (let p = 0; p < 10; p++) sb.aws.iam.attachForeignPolicy('role', name, `${name}-other-${p}`, { Version: '2012-10-17', Statement: [] });
    const requestId = uniqueName('ON');
    const body = { requestId, principalArn, target: 'orders', databases: [database] };
    expect((await call('POST /access-requests', { body }, withDb)).status).toBe(202);
    await settled();
    expect((await get(requestId)).body).toMatchObject({ status: 'FAILED', error: { code: 'GrantLimitReached' } });

    await master.query(`DROP DATABASE "${database}"`);
    await master.end();
    const retry = await call('POST /requests/{requestId}/retry', { requestId }, withDb);
    expect(retry).toMatchObject({ status: 400, body: { error: 'UnknownDatabase', details: { field: 'databases', databases: [database] } } });
    expect(executionsOf(requestId)).toEqual([`onboard/${requestId}`]);
    // Sending the request again is a read of the run it names, not a new check.
    expect(await call('POST /access-requests', { body }, withDb)).toMatchObject({ status: 200, body: { requestId, status: 'FAILED' } });
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('when the check cannot be made (the target unreachable), the request is accepted: the run checks the same rule', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Asker'));
    const requestId = uniqueName('ON');
    const unreachable: ApiDeps = {
      ...deps,
      plan: {
        ...deps.plan,
        database: { ...deps.plan.database, databases: async () => Promise.reject(new ProvisioningError('TransientDatabaseError', 'connect ECONNREFUSED')) },
      },
    };
    expect((await call('POST /access-requests', { body: { requestId, principalArn, target: 'orders', databases: ['no_such_db'] } }, unreachable)).status).toBe(
      202,
    );
    await settled();
    expect((await get(requestId)).body).toMatchObject({ status: 'FAILED', error: { code: 'UnknownDatabase', message: expected('no_such_db') } });
  });
});
