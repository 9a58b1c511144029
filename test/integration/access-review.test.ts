/**
 * GET /grants, the access review, on a real PostgreSQL server (the database half through the
 * dbUserPlan function, invoked via the Lambda SDK) and the simulated IAM: managed users, an
 * unmanaged user, a drifted user, a user nobody can connect as, and a dangling IAM statement.
 */
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiDeps, handleApiEvent } from '../../functions/lib/api/routes';
import { lambdaDatabasePlanner } from '../../functions/lib/api/plan-client';
import type { HttpEvent } from '../../functions/lib/api/http';
import { dbUserResourceArn, parsePrincipalArn } from '../../functions/lib/core/arn';
import { grantDeps } from '../../functions/lib/iam/deps';
import { addConnectGrant, removeConnectGrant } from '../../functions/lib/iam/grants';
import { type AccessReview, accessReviewCsv, type TargetReview } from '../../functions/lib/review/access-review';
import { FUNCTIONS } from '../../dev/functions';
import { createSandbox, MASTER_SECRET_ARN, QUARANTINE_ROLE, type Sandbox } from '../../dev/sandbox';
import { SimulatedLambda } from '../../dev/simulated-services';
import { masterClient, superClient, testPg, uniqueName } from '../support/pg';

const ACCOUNT = '123456789012';
const AUDITOR = `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/kim`;

let sb: Sandbox;
let lambda: { restore: () => void };
let deps: ApiDeps;

beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  lambda = new SimulatedLambda(FUNCTIONS).install();
  deps = {
    config: sb.config,
    executions: {
      sfn: new SFNClient({}),
      stateMachines: { onboarding: 'arn:aws:states:eu-west-1:1:stateMachine:a', offboarding: 'arn:aws:states:eu-west-1:1:stateMachine:b' },
    },
    plan: {
      rds: (region) => new RDSClient({ region }),
      iam: new IAMClient({}),
      limits: sb.config.iam,
      database: lambdaDatabasePlanner(new LambdaClient({}), 'dbUserPlan'),
    },
    archive: { s3: new S3Client({}), bucket: 'unused' },
    newRequestId: () => uniqueName('req'),
  };
});
afterEach(() => {
  lambda.restore();
  sb.restore();
});

const get = async (query: Record<string, string> = {}, opts: { caller?: string; accept?: string } = {}) => {
  const e = {
    version: '2.0',
    routeKey: 'GET /grants',
    rawPath: '/grants',
    rawQueryString: new URLSearchParams(query).toString(),
    headers: { accept: opts.accept ?? 'application/json' },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'test',
      domainName: 'test',
      domainPrefix: 'test',
      http: { method: 'GET', path: '/grants', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: 'r',
      routeKey: 'GET /grants',
      stage: '$default',
      time: '',
      timeEpoch: 0,
      authorizer: {
        iam: { accessKey: 'A', accountId: ACCOUNT, callerId: 'C', cognitoIdentity: null, principalOrgId: '', userArn: opts.caller ?? AUDITOR, userId: 'U' },
      },
    },
  } as HttpEvent;
  return handleApiEvent(e, deps);
};

const onboard = async (name: string, extra: object = {}): Promise<string> => {
  const principalArn = sb.aws.iam.addRole(name);
  const exec = await sb.runner.run('onboard', uniqueName('rv'), {
    requestId: uniqueName('rv'),
    principalArn,
    target: 'orders',
    dbRoles: ['app_read'],
    ...extra,
  });
  expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
  return principalArn;
};

/** The world this file reviews: built once per test (roles are cluster-wide; names are unique). */
const scenario = async () => {
  const names = {
    ok: uniqueName('rv_ok'),
    drifted: uniqueName('rv_drift'),
    root: uniqueName('rv_root'),
    orphan: uniqueName('rv_orphan'),
    unmanaged: uniqueName('rv_dba'),
    ghost: uniqueName('rv_ghost'),
    extra: uniqueName('rv_extra_role'),
  };
  const okArn = await onboard(names.ok);
  await onboard(names.drifted);
  const rootArn = await onboard(names.root);
  const orphanArn = await onboard(names.orphan);
  const sup = await superClient();
  try {
    await sup.query(`ALTER ROLE "${names.drifted}" PASSWORD 'set-by-hand'`);
    await sup.query(`CREATE ROLE "${names.extra}" NOLOGIN`);
    await sup.query(`GRANT "${names.extra}" TO "${names.drifted}"`);
    await sup.query(`ALTER ROLE "${names.drifted}" CREATEDB`);
    await sup.query(`ALTER ROLE "${names.root}" SUPERUSER`);
  } finally {
    await sup.end();
  }
  const m = await masterClient();
  try {
    await m.query(`CREATE ROLE "${names.unmanaged}" LOGIN`);
  } finally {
    await m.end();
  }
  // The orphan's grant goes away (someone revoked it by hand through this project): nobody can connect as it.
  const db = sb.aws.rds.databases.get('instance/orders-db');
  const resource = (dbUser: string) =>
    dbUserResourceArn({ partition: 'aws', region: 'eu-west-1', accountId: ACCOUNT, resourceId: db?.resourceId as string, dbUser });
  await removeConnectGrant(grantDeps(), parsePrincipalArn(orphanArn), resource(names.orphan), 'test');
  // A statement for database users that do not exist, or are not this project's.
  const ghostArn = sb.aws.iam.addRole(uniqueName('GhostHolder'));
  await addConnectGrant(grantDeps(), parsePrincipalArn(ghostArn), resource(names.ghost), 'test');
  await addConnectGrant(grantDeps(), parsePrincipalArn(ghostArn), resource(names.unmanaged), 'test');
  // Someone attaches root's grant policy by hand to another role: that role can connect as root too.
  const intruder = uniqueName('Intruder');
  const intruderArn = sb.aws.iam.addRole(intruder);
  const rootPolicy = [...sb.aws.iam.policies.values()].find((p) => p.description?.includes(rootArn))?.arn;
  if (!rootPolicy) throw new Error(`no grant policy for ${rootArn}`);
  sb.aws.iam.attach('role', intruder, rootPolicy);
  return { names, okArn, ghostArn, rootArn, intruderArn };
};

/**
 * From here on the review's admin is a superuser, who can read pg_authid (a self-managed server; on
 * RDS nobody can, and password state is "unknown"). Only after the scenario: roles the superuser
 * created would lack the master's ADMIN OPTION.
 */
const readsPasswords = (): void => sb.aws.secrets.put(MASTER_SECRET_ARN, { username: testPg().superUser, password: testPg().superPassword });

const ordersOf = (review: AccessReview): TargetReview => review.targets.find((t) => t.target === 'orders') as TargetReview;

describe('GET /grants', () => {
  it('reports managed users with their group roles, login and principals, and flags every mismatch (JSON)', async () => {
    const { names, okArn, ghostArn, rootArn, intruderArn } = await scenario();
    readsPasswords();
    const r = await get({ target: 'orders' });
    expect(r.statusCode).toBe(200);
    const review = JSON.parse(r.body) as AccessReview;
    expect(review.targets.map((t) => t.target)).toEqual(['orders']);
    const orders = ordersOf(review);
    const user = (n: string) => orders.users.find((u) => u.dbUser === n);

    expect(user(names.ok)).toMatchObject({ login: true, groupRoles: ['app_read'], principals: [{ principalArn: okArn }], passwordSet: false, flags: [] });
    expect(user(names.drifted)?.flags.sort()).toEqual([`extra-membership:${names.extra}`, 'password-set', 'privileged:CREATEDB'].sort());
    expect(user(names.orphan)?.flags).toEqual(['no-iam-grant']);
    expect(user(names.root)?.flags).toEqual(['superuser']);
    // Who can connect is who the policy is attached to: the hand-attached intruder too, flagged on the grant.
    expect(
      user(names.root)
        ?.principals.map((p) => p.principalArn)
        .sort(),
    ).toEqual([rootArn, intruderArn].sort());
    expect(orders.grants.find((g) => g.dbUser === names.root)?.flags).toEqual([`attached-elsewhere:${intruderArn}`]);
    expect(user(names.unmanaged), 'an unmanaged role is not listed as managed').toBeUndefined();

    const grant = (n: string) => orders.grants.find((g) => g.dbUser === n);
    expect(grant(names.ghost)).toMatchObject({ principalArn: ghostArn, attached: true, flags: ['dangling-grant'] });
    expect(grant(names.unmanaged)).toMatchObject({ principalArn: ghostArn, flags: ['grant-to-unmanaged-user'] });
    expect(grant(names.ok)?.flags).toEqual([]);
    expect(review.summary.flagged).toBeGreaterThanOrEqual(4);
  });

  it('the admin, whose only tie to the marker role is the PostgreSQL 16+ creator grant (ADMIN OPTION, no INHERIT, no SET), is not a managed user', async () => {
    await scenario();
    const sup = await superClient();
    const creatorGrant = await sup.query(
      `SELECT m.admin_option, m.inherit_option, m.set_option FROM pg_auth_members m WHERE m.roleid = ` +
        `'rds_iam_access_managed'::regrole AND m.member = $1::regrole`,
      [testPg().masterUser],
    );
    await sup.end();
    expect(creatorGrant.rows).toEqual([{ admin_option: true, inherit_option: false, set_option: false }]);
    const orders = ordersOf(JSON.parse((await get({ target: 'orders' })).body) as AccessReview);
    expect(orders.users.map((u) => u.dbUser)).not.toContain(testPg().masterUser);
    expect(orders.users.length).toBeGreaterThanOrEqual(4);
  });

  it('names the objects a managed user owns that offboarding would quarantine or disable, and after offboarding what the quarantine role holds', async () => {
    const name = uniqueName('rv_planter');
    const principalArn = await onboard(name);
    const schema = `rv_${name.toLowerCase()}`;
    const app = await superClient('app');
    try {
      await app.query(`CREATE SCHEMA ${schema} AUTHORIZATION "${name}"`);
      await app.query(`SET ROLE "${name}"`);
      await app.query(`CREATE TABLE ${schema}.inbox (v text)`);
      await app.query(`CREATE VIEW ${schema}.leak AS SELECT * FROM ${schema}.inbox`);
      await app.query(`CREATE FUNCTION ${schema}.peek() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`);
      await app.query(`CREATE RULE forward AS ON INSERT TO ${schema}.inbox DO ALSO NOTIFY inbox`);
    } finally {
      await app.end();
    }
    const before = ordersOf(JSON.parse((await get({ target: 'orders' })).body) as AccessReview);
    const user = before.users.find((u) => u.dbUser === name);
    expect(user?.flags).toContain('owns-unsafe-objects');
    expect(user?.unsafeObjects.map((o) => [o.database, o.kind, o.name, o.action])).toEqual([
      ['app', 'view', `${schema}.leak`, 'quarantine'],
      ['app', 'function', `${schema}.peek()`, 'quarantine'],
      ['app', 'rule', `forward on ${schema}.inbox`, 'disable'],
    ]);
    expect(before.quarantine.role).toBe(QUARANTINE_ROLE);
    expect(before.quarantine.objects.filter((o) => o.name.startsWith(schema))).toEqual([]);

    const off = await sb.runner.run('offboard', uniqueName('off'), { requestId: uniqueName('off'), dbUser: name, target: 'orders', principalArn });
    expect(off.status, `${off.error}: ${off.cause}`).toBe('SUCCEEDED');
    const after = ordersOf(JSON.parse((await get({ target: 'orders' })).body) as AccessReview);
    expect(after.quarantine.objects.filter((o) => o.name.startsWith(schema))).toEqual([
      { database: 'app', kind: 'view', name: `${schema}.leak` },
      { database: 'app', kind: 'function', name: `${schema}.peek()` },
    ]);
  });

  it('the same review as CSV: a row per user and principal, one per mismatched grant', async () => {
    const { names, okArn } = await scenario();
    readsPasswords();
    const r = await get({ target: 'orders' }, { accept: 'text/csv' });
    expect(r.statusCode).toBe(200);
    expect(r.headers?.['content-type']).toMatch(/^text\/csv/);
    const lines = r.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('target,resource_id,db_user,db_user_managed,login,group_roles,principal_arn,policy_arn,flags');
    const row = (n: string) => lines.find((l) => l.split(',')[2] === n)?.split(',');
    expect(row(names.ok)?.slice(3, 7)).toEqual(['true', 'true', 'app_read', okArn]);
    expect(row(names.ok)?.[8]).toBe('');
    expect(row(names.drifted)?.[8]).toContain('password-set');
    expect(row(names.orphan)?.[6]).toBe('');
    expect(row(names.orphan)?.[8]).toBe('no-iam-grant');
    expect(row(names.ghost)?.slice(3, 4)).toEqual(['false']);
    expect(row(names.ghost)?.[8]).toBe('dangling-grant');
  });

  it('CSV fields are quoted when needed and never start a spreadsheet formula', () => {
    const review: AccessReview = {
      generatedAt: '2026-11-23T00:00:00.000Z',
      filter: {},
      summary: { users: 1, grants: 0, flagged: 1 },
      targets: [
        {
          target: 'orders',
          kind: 'instance',
          identifier: 'i',
          resourceId: 'db-X',
          grants: [],
          users: [{ dbUser: 'u1', login: true, groupRoles: ['=HYPERLINK("x")', 'a,b'], principals: [], passwordSet: null, flags: ['x"y'], unsafeObjects: [] }],
          quarantine: { role: 'q', objects: [] },
        },
      ],
    };
    const [, row] = accessReviewCsv(review).split('\r\n');
    expect(row).toBe(`orders,db-X,u1,true,true,"'=HYPERLINK(""x"");a,b",,,"x""y"`);
  });

  it('as the RDS master (no pg_authid access) the password state is unknown, not guessed', async () => {
    const { names } = await scenario();
    const orders = ordersOf(JSON.parse((await get({ target: 'orders' })).body) as AccessReview);
    const drifted = orders.users.find((u) => u.dbUser === names.drifted);
    expect(drifted?.passwordSet).toBeNull();
    expect(drifted?.flags).not.toContain('password-set');
    expect(drifted?.flags).toContain(`extra-membership:${names.extra}`);
  });

  it('filters by principal: only what concerns that principal', async () => {
    const { names, okArn } = await scenario();
    const orders = ordersOf(JSON.parse((await get({ target: 'orders', principalArn: okArn })).body) as AccessReview);
    expect(orders.users.map((u) => u.dbUser)).toEqual([names.ok]);
    expect(orders.grants.map((g) => g.dbUser)).toEqual([names.ok]);
  });

  it('reviews every target when none is named', async () => {
    const r = await get();
    expect(r.statusCode, r.body).toBe(200);
    const review = JSON.parse(r.body) as AccessReview;
    expect(review.targets.map((t) => t.target)).toEqual(Object.keys(sb.config.targets).sort());
  });

  it('refuses callers that are not auditors, unknown targets and unknown parameters', async () => {
    expect((await get({}, { caller: `arn:aws:sts::${ACCOUNT}:assumed-role/developer/x` })).statusCode).toBe(403);
    expect((await get({ target: 'nope' })).statusCode).toBe(404);
    const bad = await get({ tagret: 'orders' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('tagret');
  });
});
