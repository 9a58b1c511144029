/**
 * A corpus of hostile input (issue 10): identifiers, ARNs, request bodies, query strings, identity-provider events and
 * configuration values that an attacker, a confused client or a typo would send. Each must be refused with a clear
 * error (the code, and a message naming the field or path) and change nothing: no execution started, no database
 * role, no IAM policy.
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
import { parseConfig } from '../../functions/lib/core/config';
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

describe('hostile configuration values', () => {
  const target = {
    kind: 'instance',
    identifier: 'orders-db',
    region: 'eu-west-1',
    accountId: ACCOUNT,
    allowedDbRoles: ['app_read'],
    admin: { method: 'secret', secretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:x-AbCdEf` },
    successorRole: 'data_owner',
  };
  const withTarget = (extra: Record<string, unknown>) => ({ targets: { orders: { ...target, ...extra } } });
  const cases: Array<[string, unknown, string]> = [
    ['an upper-case target name', { targets: { Orders: target } }, 'targets'],
    ['a target name with a slash', { targets: { 'a/b': target } }, 'targets'],
    ['a wildcard identifier', withTarget({ identifier: '*' }), 'targets.orders.identifier'],
    ['a region with shell', withTarget({ region: 'eu-west-1; rm -rf /' }), 'targets.orders.region'],
    ['a wildcard account', withTarget({ accountId: '*' }), 'targets.orders.accountId'],
    ['an unknown kind', withTarget({ kind: 'proxy' }), 'targets.orders.kind'],
    ['an allowed role with SQL', withTarget({ allowedDbRoles: ['app; DROP'] }), 'targets.orders.allowedDbRoles.0'],
    ['rds_superuser on the allow-list', withTarget({ allowedDbRoles: ['rds_superuser'] }), 'targets.orders.allowedDbRoles'],
    ['the marker role on the allow-list', withTarget({ allowedDbRoles: ['rds_iam_access_managed'] }), 'targets.orders.allowedDbRoles'],
    ['the successor on the allow-list', withTarget({ allowedDbRoles: ['data_owner'] }), 'targets.orders.allowedDbRoles'],
    ['a database with SQL', withTarget({ allowedDatabases: ['app"'] }), 'targets.orders.allowedDatabases.0'],
    ['rds_superuser as successor', withTarget({ successorRole: 'rds_superuser' }), 'targets.orders.successorRole'],
    ['a secret that is not an ARN', withTarget({ admin: { method: 'secret', secretArn: 'my-secret' } }), 'targets.orders.admin.secretArn'],
    ['an unknown admin method', withTarget({ admin: { method: 'password', password: 'x' } }), 'targets.orders.admin'],
    ['an admin user with SQL', withTarget({ admin: { method: 'iam', user: 'admin"; --' } }), 'targets.orders.admin.user'],
    ['TLS "none"', withTarget({ tls: 'none' }), 'targets.orders.tls'],
    ['iamAuth.enable "always"', withTarget({ iamAuth: { enable: 'always' } }), 'targets.orders.iamAuth.enable'],
    ['pollSeconds 0', withTarget({ iamAuth: { pollSeconds: 0 } }), 'targets.orders.iamAuth.pollSeconds'],
    ['dbConcurrency 0', { ...withTarget({}), dbConcurrency: 0 }, 'dbConcurrency'],
    [
      'an IAM pace that outlives the grant step',
      { ...withTarget({}), iam: { writesPerSecond: 1, grantConcurrency: 20 } },
      'iam: writesPerSecond 1 shared by grantConcurrency 20',
    ],
    ['iam.writesPerSecond 0', { ...withTarget({}), iam: { writesPerSecond: 0 } }, 'iam.writesPerSecond'],
    [
      "idp.startsPerSecond over Step Functions' refill",
      {
        ...withTarget({}),
        idp: { groups: {}, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userName}' }, startsPerSecond: 1000 },
      },
      'idp.startsPerSecond',
    ],
    ['dbConcurrency as a string', { ...withTarget({}), dbConcurrency: '10' }, 'dbConcurrency'],
    ['an admin pattern with a wildcard account', { ...withTarget({}), api: { admins: ['arn:aws:iam::*:role/admin'] } }, 'api.admins.0'],
    ['an admin pattern with a wildcard partition', { ...withTarget({}), api: { admins: [`arn:*:iam::${ACCOUNT}:role/admin`] } }, 'api.admins.0'],
    ['an auditor pattern "*"', { ...withTarget({}), api: { auditors: ['*'] } }, 'api.auditors.0'],
    [
      'a grantable tag key with a space',
      { ...withTarget({}), iam: { grantablePrincipals: { tag: { key: 'a b', value: 'x' } } } },
      'iam.grantablePrincipals.tag.key',
    ],
    [
      'a wildcard permissions boundary',
      { ...withTarget({}), iam: { grantablePrincipals: { permissionsBoundaryArn: '*' } } },
      'iam.grantablePrincipals.permissionsBoundaryArn',
    ],
    ['an unknown grantablePrincipals key', { ...withTarget({}), iam: { grantablePrincipals: { tags: {} } } }, 'iam.grantablePrincipals'],
    [
      'an idp group naming an unconfigured target',
      {
        ...withTarget({}),
        idp: { groups: { g: { targets: ['prod'] } }, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userName}' } },
      },
      'idp.groups.g.targets',
    ],
    [
      'an idp template with an unknown placeholder',
      { ...withTarget({}), idp: { groups: {}, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{email}' } } },
      'idp.principal.arnTemplate',
    ],
    [
      'an Okta org URL over http',
      {
        ...withTarget({}),
        idp: {
          groups: {},
          principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userName}' },
          okta: { orgUrl: 'http://evil.example', apiTokenSecretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:okta-AbCdEf` },
        },
      },
      'idp.okta.orgUrl',
    ],
  ];
  it.each(cases)('%s', (_what, raw, path) => {
    let caught: unknown;
    try {
      parseConfig(raw);
    } catch (e) {
      caught = e;
    }
    expect((caught as Error | undefined)?.name, 'refused as ConfigurationError').toBe('ConfigurationError');
    expect((caught as Error).message).toContain(path);
  });
});
