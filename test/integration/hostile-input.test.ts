/**
 * A corpus of hostile input (issue 10): identifiers, ARNs, request bodies, query strings and identity-provider events
 * that an attacker, a confused client or a typo would send. Each must be refused with a clear
 * error (the code, and a message naming the field or path) and change nothing: no execution started, no database
 * role, no IAM policy. Configuration values: test/unit/core/hostile-config.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { ExecutionDoesNotExist, DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaDatabasePlanner } from '../../functions/lib/api/plan-client';
import { type ApiDeps, handleApiEvent } from '../../functions/lib/api/routes';
import { parseIdentityEvent } from '../../functions/lib/idp/providers';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { answerTasksOf, SimulatedLambda } from '../../dev/simulated-services';
import { ADMIN, httpEvent, parse } from '../support/http-api';
import { allRoles, testPg } from '../support/pg';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/alice`;
const SM = (kind: string) => `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:rds-iam-access-test-${kind}`;

let sb: Sandbox;
let sfn: AwsClientStub<SFNClient>;
let lambda: ReturnType<SimulatedLambda['install']>;
let rolesBefore: string[];

beforeAll(async () => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  sb.aws.iam.addRole('alice');
  sfn = mockClient(SFNClient);
  // The database limiter's consumer answers its waiting state through SFNClient: this mock must pass that on.
  answerTasksOf(sfn, sb.runner);
  sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  lambda = new SimulatedLambda(FUNCTIONS).install();
  rolesBefore = await allRoles();
});
afterAll(async () => {
  // Nothing any case sent changed the database or IAM.
  expect(await allRoles()).toEqual(rolesBefore);
  expect([...sb.aws.iam.policies.keys()]).toEqual([]);
  lambda.restore();
  sfn.restore();
  sb.restore();
});

const deps = (): ApiDeps => ({
  config: sb.config,
  executions: { sfn: new SFNClient({ region: 'eu-west-1' }), stateMachines: { onboarding: SM('onboard'), offboarding: SM('offboard') } },
  plan: {
    rds: (region) => new RDSClient({ region }),
    iam: new IAMClient({}),
    limits: sb.config.iam,
    database: lambdaDatabasePlanner(new LambdaClient({}), 'dbUserPlan'),
  },
  archive: { s3: new S3Client({ region: 'eu-west-1' }), bucket: 'test-archive' },
  newRequestId: () => 'req-hostile',
});

/** Sends one request (as an administrator unless said otherwise) and checks the refusal. */
const refused = async (
  route: string,
  body: unknown,
  expected: { status: number; error: string; names: string },
  opts: { caller?: string; query?: Record<string, string> } = {},
) => {
  const startsBefore = sfn.commandCalls(StartExecutionCommand).length;
  const r = parse(await handleApiEvent(httpEvent({ routeKey: route, body, caller: opts.caller ?? ADMIN, query: opts.query }), deps()));
  expect(r.status, JSON.stringify(r.body)).toBe(expected.status);
  expect(r.body.error, JSON.stringify(r.body)).toBe(expected.error);
  expect(String(r.body.message), 'the message names what is wrong').toContain(expected.names);
  expect(sfn.commandCalls(StartExecutionCommand).length, 'nothing started').toBe(startsBefore);
};

const onboard = (extra: Record<string, unknown>) => ({ principalArn: ROLE, target: 'orders', ...extra });
const bad = (names: string) => ({ status: 400, error: 'ValidationError', names });
const protectedRole = { status: 403, error: 'ProtectedRole', names: 'dbUser' };

describe('hostile database user names', () => {
  const cases: Array<[string, unknown, { status: number; error: string; names: string }]> = [
    ['empty', '', bad('dbUser')],
    ['64 bytes', 'a'.repeat(64), bad('dbUser')],
    ['63 bytes of multi-byte characters', 'é'.repeat(32), bad('dbUser')],
    ['NUL', 'ali\0ce', bad('dbUser')],
    ['IAM wildcard *', '*', bad('dbUser')],
    ['trailing wildcard', 'alice*', bad('dbUser')],
    ['IAM wildcard ?', 'al?ce', bad('dbUser')],
    ['IAM policy variable', '${aws:username}', bad('dbUser')],
    ['space', 'a b', bad('dbUser')],
    ['double quote', 'a"b', bad('dbUser')],
    ['single quote', "a'b", bad('dbUser')],
    ['SQL', 'x; DROP ROLE postgres_master', bad('dbUser')],
    ['slash (ARN separator)', 'a/b', bad('dbUser')],
    ['colon (ARN separator)', 'a:b', bad('dbUser')],
    ['newline', 'alice\n', bad('dbUser')],
    ['percent-encoding', 'alice%00', bad('dbUser')],
    ['Cyrillic look-alike', 'аlice', bad('dbUser')],
    ['leading digit', '1alice', bad('dbUser')],
    ['leading dash', '-alice', bad('dbUser')],
    ['a number', 42, bad('dbUser')],
    ['an array', ['alice'], bad('dbUser')],
    ['rds_superuser', 'rds_superuser', protectedRole],
    ['rdsadmin', 'rdsadmin', protectedRole],
    ['RDS_IAM (case)', 'RDS_IAM', protectedRole],
    ['pg_read_all_data', 'pg_read_all_data', protectedRole],
    ['PG_monitor (case)', 'PG_monitor', protectedRole],
    ['postgres', 'postgres', protectedRole],
    ['public', 'public', protectedRole],
    ['current_user', 'current_user', protectedRole],
    ['session_user', 'session_user', protectedRole],
    ['none', 'none', protectedRole],
    ['the marker role', 'rds_iam_access_managed', protectedRole],
    ['the successor role', 'data_owner', protectedRole],
    ['DATA_OWNER (case)', 'DATA_OWNER', protectedRole],
    ['a group role', 'app_read', protectedRole],
  ];
  it.each(cases)('%s', async (_what, dbUser, expected) => refused('POST /access-requests', onboard({ dbUser }), expected));
  it.each(cases.filter(([, v]) => typeof v === 'string' && v !== ''))('revocation of %s', async (_what, dbUser, expected) =>
    refused('POST /revocations', { dbUser, target: 'orders' }, expected),
  );
});

describe('hostile principal ARNs', () => {
  const cases: Array<[string, unknown]> = [
    ['empty', ''],
    ['the account root', `arn:aws:iam::${ACCOUNT}:root`],
    ['a group', `arn:aws:iam::${ACCOUNT}:group/admins`],
    ['an STS session', `arn:aws:sts::${ACCOUNT}:assumed-role/alice/s`],
    ['a wildcard account', 'arn:aws:iam::*:role/alice'],
    ['a wildcard name', `arn:aws:iam::${ACCOUNT}:role/*`],
    ['a name with ?', `arn:aws:iam::${ACCOUNT}:role/al?ce`],
    ['another account', 'arn:aws:iam::999999999999:role/alice'],
    ['another partition', `arn:aws-cn:iam::${ACCOUNT}:role/alice`],
    ['no name', `arn:aws:iam::${ACCOUNT}:role/`],
    ['a space in the name', `arn:aws:iam::${ACCOUNT}:role/a b`],
    ['an 11-digit account', 'arn:aws:iam::12345678901:role/alice'],
    ['a 65-character role name', `arn:aws:iam::${ACCOUNT}:role/${'a'.repeat(65)}`],
    ['a trailing newline', `${ROLE}\n`],
    ['a policy variable', `arn:aws:iam::${ACCOUNT}:role/\${aws:username}`],
    ['a policy ARN', `arn:aws:iam::${ACCOUNT}:policy/rds-iam-access/x`],
    ['not an ARN', 'alice'],
    ['a number', 123456789012],
    ['null', null],
    ['an object', { arn: ROLE }],
  ];
  it.each(cases)('%s', async (_what, principalArn) =>
    refused('POST /access-requests', { principalArn, target: 'orders', dbUser: 'alice' }, bad('principalArn')),
  );
});

describe('hostile bodies and query strings', () => {
  const cases: Array<[string, unknown, { status: number; error: string; names: string }, { query?: Record<string, string> }?]> = [
    ['not JSON', '{"principalArn":', bad('JSON')],
    ['a JSON array', '[]', bad('body')],
    ['JSON null', 'null', bad('body')],
    ['a JSON string', '"hello"', bad('body')],
    ['requestedBy set by the client', onboard({ requestedBy: ADMIN }), bad('requestedBy')],
    ['requireOwner set by the client', onboard({ requireOwner: ROLE }), bad('requireOwner')],
    ['idpUser set by the client', onboard({ idpUser: 'okta:00u1' }), bad('idpUser')],
    ['an unknown field', onboard({ dbrole: ['app_read'] }), bad('dbrole')],
    ['__proto__ as a field', `{"principalArn":"${ROLE}","target":"orders","__proto__":{"admin":true}}`, bad('__proto__')],
    ['dbRoles not an array', onboard({ dbRoles: 'app_read' }), bad('dbRoles')],
    ['21 dbRoles', onboard({ dbRoles: Array.from({ length: 21 }, (_, i) => `r${i}`) }), bad('dbRoles')],
    ['dbRoles rds_superuser', onboard({ dbRoles: ['rds_superuser'] }), { status: 403, error: 'RoleNotAllowed', names: 'rds_superuser' }],
    ['dbRoles not on the allow-list', onboard({ dbRoles: ['app_admin'] }), { status: 403, error: 'RoleNotAllowed', names: 'app_admin' }],
    ['dbRoles pg_signal_backend', onboard({ dbRoles: ['pg_signal_backend'] }), { status: 403, error: 'RoleNotAllowed', names: 'pg_signal_backend' }],
    ['dbRoles with SQL', onboard({ dbRoles: ['app_read; DROP TABLE x'] }), bad('dbRoles[0]')],
    ['a database outside allowedDatabases', onboard({ databases: ['template1'] }), { status: 403, error: 'DatabaseNotAllowed', names: 'template1' }],
    ['a database with SQL', onboard({ databases: ['app;'] }), bad('databases[0]')],
    ['51 databases', onboard({ databases: Array.from({ length: 51 }, (_, i) => `d${i}`) }), bad('databases')],
    ['an unknown target', onboard({ target: 'production' }), { status: 404, error: 'UnknownTarget', names: 'production' }],
    ['target __proto__', onboard({ target: '__proto__' }), { status: 404, error: 'UnknownTarget', names: '__proto__' }],
    ['target constructor', onboard({ target: 'constructor' }), { status: 404, error: 'UnknownTarget', names: 'constructor' }],
    ['target missing', { principalArn: ROLE }, bad('target')],
    ['a request id with a slash', onboard({ requestId: 'a/b' }), bad('requestId')],
    ['a request id of 81 characters', onboard({ requestId: 'a'.repeat(81) }), bad('requestId')],
    ['a request id in the identity-provider namespace', onboard({ requestId: 'idp-okta-x' }), bad('requestId')],
    ['a request id in the self-service namespace', onboard({ requestId: 'self-0123456789abcdef-x' }), bad('requestId')],
    ['a reason of 1,001 characters', onboard({ reason: 'x'.repeat(1001) }), bad('reason')],
    ['exclusiveRoles not a boolean', onboard({ exclusiveRoles: 'yes' }), bad('exclusiveRoles')],
    ['sessionTagKey from the API', onboard({ sessionTagKey: 'db_user' }), bad('sessionTagKey')],
    ['a mistyped ?dryrun', onboard({}), bad('dryrun'), { query: { dryrun: 'true' } }],
    ['?dryRun=yes', onboard({}), bad('dryRun'), { query: { dryRun: 'yes' } }],
    ['an unknown query parameter', onboard({}), bad('force'), { query: { force: '1' } }],
    ['a revocation without dbUser', { target: 'orders' }, bad('dbUser')],
    ['a revocation with a wildcard principal', { target: 'orders', dbUser: 'alice', principalArn: 'arn:aws:iam::*:role/alice' }, bad('principalArn')],
  ];
  it.each(cases)('%s', async (what, body, expected, opts) =>
    refused(what.startsWith('a revocation') ? 'POST /revocations' : 'POST /access-requests', body, expected, opts ?? {}),
  );

  it('a self-service caller asking for someone else, or for a protected name, is refused', async () => {
    const alice = `arn:aws:sts::${ACCOUNT}:assumed-role/alice/alice`;
    await refused(
      'POST /access-requests',
      { principalArn: `arn:aws:iam::${ACCOUNT}:role/bob`, target: 'orders' },
      { status: 403, error: 'NotAuthorized', names: 'bob' },
      { caller: alice },
    );
    await refused(
      'POST /access-requests',
      { principalArn: ROLE, target: 'orders', dbUser: 'bob' },
      { status: 403, error: 'NotAuthorized', names: 'database user "alice", not for "bob"' },
      { caller: alice },
    );
  });
});

describe('hostile identity-provider events', () => {
  const fixture = (name: string): Record<string, unknown> =>
    JSON.parse(readFileSync(join(__dirname, '../fixtures/idp', `${name}.json`), 'utf8')) as Record<string, unknown>;
  const ct = fixture('identitystore-create-group-membership');
  const ctDetail = ct.detail as Record<string, unknown>;
  const okta = fixture('okta-group-user-membership-add');
  const oktaDetail = okta.detail as Record<string, unknown>;
  const cases: Array<[string, unknown, string]> = [
    ['not an object', 'event', 'not a JSON object'],
    ['null', null, 'not a JSON object'],
    ['no source', { ...ct, source: undefined }, 'source'],
    ['no detail', { ...ct, detail: undefined }, 'detail'],
    ['an unknown source', { ...ct, source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification' }, 'aws.ec2'],
    ['CloudTrail without eventID', { ...ct, detail: { ...ctDetail, eventID: undefined } }, 'eventID'],
    ['CloudTrail with a numeric eventID', { ...ct, detail: { ...ctDetail, eventID: 7 } }, 'eventID'],
    ['CloudTrail without requestParameters', { ...ct, detail: { ...ctDetail, requestParameters: undefined } }, 'requestParameters'],
    ['Okta without a uuid', { ...okta, detail: { ...oktaDetail, uuid: undefined } }, 'uuid'],
    ['Okta without targets', { ...okta, detail: { ...oktaDetail, target: undefined } }, 'target'],
  ];
  it.each(cases)('%s', (_what, event, names) => {
    let caught: unknown;
    try {
      parseIdentityEvent(event);
    } catch (e) {
      caught = e;
    }
    expect((caught as Error | undefined)?.name).toBe('ValidationError');
    expect((caught as Error).message).toContain(names);
  });
});
