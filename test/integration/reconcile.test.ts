/**
 * The scheduled reconcile (functions/access-reconcile.ts) on a PostgreSQL server of its own (the shared test server
 * holds other files' users, which would be drift here) and the simulated IAM, S3 and SNS at the SDK boundary: the
 * report is archived under reviews/, drift is published to the alarm topic, and repair removes only the project's
 * grants for users that do not exist, never adding anything.
 */
import { AttachRolePolicyCommand, AttachUserPolicyCommand, CreatePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lambdaDatabasePlanner } from '../../functions/lib/api/plan-client';
import { dbUserResourceArn, parsePrincipalArn } from '../../functions/lib/core/arn';
import { REVIEW_SCHEMA, type ReviewReport, writeReviewReport } from '../../functions/lib/audit/review-archive';
import { type Config, parseConfig } from '../../functions/lib/core/config';
import { grantDeps } from '../../functions/lib/iam/deps';
import { addConnectGrant } from '../../functions/lib/iam/grants';
import { type ReconcileResult, reconcileAccess } from '../../functions/lib/review/reconcile';
import { type EmbeddedLocalPostgres, startLocalPostgres } from '../../dev/embedded-postgres';
import { FUNCTIONS } from '../../dev/functions';
import { ACCOUNT_ID, createSandbox, type Sandbox } from '../../dev/sandbox';
import { SimulatedLambda } from '../../dev/simulated-services';
import { SimulatedSns } from '../../dev/simulated-sns';
import { uniqueName } from '../support/pg';

const BUCKET = 'rds-iam-access-test-archive';
const TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:rds-iam-access-test-alarms`;

let server: EmbeddedLocalPostgres;
let sb: Sandbox;
let sns: SimulatedSns;
let mocks: Array<{ restore: () => void }>;

beforeAll(async () => {
  server = await startLocalPostgres({ quiet: true });
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

/** One target only: every target of the sandbox is this one server, so a user of "orders" would be drift on the others. */
const configWith = (repair: boolean): Config => ({
  ...sb.config,
  targets: { orders: sb.config.targets.orders },
  operations: { reconcile: { schedule: 'rate(1 day)', enabled: true, repair: { removeDanglingGrants: repair } } },
});
const useConfig = (repair: boolean): void => {
  process.env.TARGETS_CONFIG = JSON.stringify(parseConfig(configWith(repair)));
};

beforeEach(() => {
  sb = createSandbox({ pg: server, waitMs: 1, retryMs: 5 });
  sns = new SimulatedSns();
  mocks = [new SimulatedLambda(FUNCTIONS).install(), sns.install()];
  useConfig(false);
  Object.assign(process.env, { ARCHIVE_BUCKET: BUCKET, ALARM_TOPIC_ARN: TOPIC, DB_PLAN_FUNCTION: 'dbUserPlan' });
});
afterEach(async () => {
  for (const m of mocks) m.restore();
  sb.restore();
  for (const k of ['ARCHIVE_BUCKET', 'ALARM_TOPIC_ARN', 'DB_PLAN_FUNCTION']) delete process.env[k];
  // Each test starts from a server without managed users: what one test leaves would be the next one's drift.
  // (The master user is a member of the marker role too: it administers it.)
  const c = await superClient();
  try {
    const { rows } = await c.query<{ name: string }>(
      `SELECT r.rolname::text AS name FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN ` +
        `pg_roles g ON g.oid = m.roleid WHERE g.rolname = 'rds_iam_access_managed' AND r.rolname <> $1`,
      [server.masterUser],
    );
    for (const { name } of rows) {
      for (const database of ['app', 'postgres']) {
        const d = await superClient(database);
        await d.query(`DROP OWNED BY "${name}"`).finally(() => d.end());
      }
      await c.query(`DROP ROLE "${name}"`);
    }
  } finally {
    await c.end();
  }
});

const superClient = async (database = 'postgres') => {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ host: server.host, port: server.port, user: server.superUser, password: server.superPassword, database });
  await client.connect();
  return client;
};

const onboard = async (name: string): Promise<string> => {
  const principalArn = sb.aws.iam.addRole(name);
  const exec = await sb.runner.run('onboard', uniqueName('rc'), {
    requestId: uniqueName('rc'),
    principalArn,
    target: 'orders',
    dbRoles: ['app_read'],
    databases: ['app'],
  });
  expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
  return principalArn;
};

const resource = (dbUser: string): string =>
  dbUserResourceArn({
    partition: 'aws',
    region: 'eu-west-1',
    accountId: ACCOUNT_ID,
    resourceId: sb.aws.rds.databases.get('instance/orders-db')?.resourceId as string,
    dbUser,
  });

/** Every rds-db:connect resource the simulated IAM lets each role reach through its attached policies. */
const connectGrants = (): Record<string, string[]> =>
  Object.fromEntries(
    [...sb.aws.iam.roles.keys()].sort().map((role) => [
      role,
      sb.aws.iam
        .attachedDocuments('role', role)
        .flatMap((d) => (d as { Statement: Array<{ Action?: unknown; Resource: string | string[] }> }).Statement)
        .filter((s) => JSON.stringify(s.Action ?? '').includes('rds-db:connect'))
        .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
        .sort(),
    ]),
  );

const dropByHand = async (dbUser: string): Promise<void> => {
  for (const database of ['app', 'postgres']) {
    const d = await superClient(database);
    await d.query(`DROP OWNED BY "${dbUser}"`).finally(() => d.end());
  }
  const c = await superClient();
  await c.query(`DROP ROLE "${dbUser}"`).finally(() => c.end());
};

const archivedReport = (key: string): ReviewReport => {
  const o = sb.aws.s3.objects.get(`${BUCKET}/${key}`);
  if (!o) throw new Error(`no archived report ${key}; archived: ${[...sb.aws.s3.objects.keys()].join(', ')}`);
  return JSON.parse(o.body) as ReviewReport;
};

const run = async (): Promise<ReconcileResult> =>
  (await FUNCTIONS.accessReconcile.handler({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event', detail: {} } as never)) as ReconcileResult;

describe('scheduled reconcile', () => {
  it('no drift: archives the report and publishes nothing', async () => {
    const ok = uniqueName('rc_ok');
    const okArn = await onboard(ok);
    const result = await run();
    expect(result).toMatchObject({ drift: 0, repairs: [], summary: { users: 1, grants: 1, flagged: 0 } });
    expect(result.notified).toBeUndefined();
    expect(sns.published).toEqual([]);
    expect(result.reportKey).toBe(`reviews/${result.generatedAt}.json`);
    const report = archivedReport(result.reportKey);
    expect(report).toMatchObject({ schema: REVIEW_SCHEMA, drift: [], repairs: [], repair: { removeDanglingGrants: false } });
    expect(report.review.targets[0].users).toEqual([
      expect.objectContaining({ dbUser: ok, principals: [expect.objectContaining({ principalArn: okArn })], flags: [] }),
    ]);
  });

  it('never overwrites an archived report: a second report of the same moment is refused and the first stays', async () => {
    const result = await run();
    const first = archivedReport(result.reportKey);
    const store = { s3: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET };
    const other: ReviewReport = { ...first, drift: [{ kind: 'grant', target: 'orders', dbUser: 'someone', flags: ['dangling-grant'] } as never] };
    await expect(writeReviewReport(store, other)).rejects.toMatchObject({ name: 'TransientAwsError' });
    expect(archivedReport(result.reportKey)).toEqual(first);
  });

  it('drift found: the report is archived and the alarm topic gets a message naming each item; repair off changes nothing', async () => {
    const ok = uniqueName('rc_ok');
    const gone = uniqueName('rc_gone');
    await onboard(ok);
    const goneArn = await onboard(gone);
    await dropByHand(gone);
    const before = connectGrants();
    const result = await run();
    expect(result.drift).toBe(1);
    expect(result.repairs).toEqual([]);
    const report = archivedReport(result.reportKey);
    expect(report.drift).toEqual([
      expect.objectContaining({ target: 'orders', subject: 'grant', dbUser: gone, principalArn: goneArn, flags: ['dangling-grant'] }),
    ]);
    expect(sns.published).toHaveLength(1);
    const [message] = sns.published;
    expect(message).toMatchObject({ topicArn: TOPIC, subject: 'rds-iam-access: access review found 1 drift item', messageId: result.notified });
    expect(message.message).toContain(`- orders grant ${gone} (${goneArn}): dangling-grant`);
    expect(message.message).toContain(`s3://${BUCKET}/${result.reportKey}`);
    expect(connectGrants()).toEqual(before);
  });

  it('repair on: removes only the project grant of the dropped user, never adds, and the report says so', async () => {
    useConfig(true);
    const ok = uniqueName('rc_ok');
    const gone = uniqueName('rc_gone');
    const unmanaged = uniqueName('rc_dba');
    const okArn = await onboard(ok);
    const goneArn = await onboard(gone);
    // The same principal also holds a grant for a user that still exists: it must survive the repair.
    const both = uniqueName('rc_both');
    await dropByHand(gone);
    const c = await superClient();
    await c.query(`CREATE ROLE "${unmanaged}" LOGIN; CREATE ROLE "${both}" LOGIN`).finally(() => c.end());
    // Grants the repair must not touch: to a user that exists but is not managed (drift, yet not dangling).
    const holderArn = sb.aws.iam.addRole(uniqueName('Holder'));
    await addConnectGrant(grantDeps(), parsePrincipalArn(holderArn), resource(unmanaged), 'test');
    await addConnectGrant(grantDeps(), parsePrincipalArn(goneArn), resource(both), 'test');
    const before = connectGrants();
    const adds = () =>
      sb.aws.stubs.iam.commandCalls(CreatePolicyCommand).length +
      sb.aws.stubs.iam.commandCalls(AttachRolePolicyCommand).length +
      sb.aws.stubs.iam.commandCalls(AttachUserPolicyCommand).length;
    const addsBefore = adds();

    const result = await run();
    expect(result.repairs).toEqual([
      expect.objectContaining({ target: 'orders', dbUser: gone, principalArn: goneArn, resourceArn: resource(gone), outcome: 'removed' }),
    ]);
    const after = connectGrants();
    const goneRole = goneArn.split('/').pop() as string;
    expect(after[goneRole]).toEqual([resource(both)]);
    // Everything else exactly as before, and nothing anywhere gained a grant or a policy.
    expect({ ...after, [goneRole]: [] }).toEqual({ ...before, [goneRole]: [] });
    for (const [role, grants] of Object.entries(after)) for (const g of grants) expect(before[role], `${role} gained ${g}`).toContain(g);
    expect(adds()).toBe(addsBefore);
    expect(after[okArn.split('/').pop() as string]).toEqual([resource(ok)]);

    const report = archivedReport(result.reportKey);
    expect(report.repair).toEqual({ removeDanglingGrants: true });
    expect(report.repairs).toEqual(result.repairs);
    expect(report.drift.map((d) => `${d.dbUser}:${d.flags.join(',')}`).sort()).toEqual(
      [`${both}:grant-to-unmanaged-user`, `${gone}:dangling-grant`, `${unmanaged}:grant-to-unmanaged-user`].sort(),
    );
    expect(sns.published).toHaveLength(1);
    expect(sns.published[0].message).toContain(`- removed: ${resource(gone)} from ${goneArn}`);

    // The next run finds the dangling grant gone: only the hand-made grants are left to report.
    sns.published.length = 0;
    const again = await run();
    expect(again.repairs).toEqual([]);
    expect(again.drift).toBe(2);
  });

  it('repair keeps a grant whose user was created again after the review read the database (looked for again under the lock)', async () => {
    const gone = uniqueName('rc_back');
    const goneArn = await onboard(gone);
    await dropByHand(gone);
    const before = connectGrants();
    const planner = lambdaDatabasePlanner(new LambdaClient({}), 'dbUserPlan');
    let reviews = 0;
    const result = await reconcileAccess({
      config: configWith(true),
      rds: (region) => new RDSClient({ region }),
      iam: new IAMClient({}),
      database: {
        ...planner,
        review: async (state, dbUsers) => {
          // The second read is the repair's, under the principal's lock: by then an onboarding made the user again.
          if (++reviews === 2) {
            const c = await superClient();
            await c.query(`CREATE ROLE "${gone}" LOGIN`).finally(() => c.end());
          }
          return planner.review(state, dbUsers);
        },
      },
      grants: grantDeps(),
      archive: { s3: new S3Client({}), bucket: BUCKET },
      notify: { sns: new SNSClient({}), topicArn: TOPIC },
    });
    expect(reviews).toBe(2);
    expect(result.repairs).toEqual([
      expect.objectContaining({ dbUser: gone, principalArn: goneArn, outcome: 'kept', reason: expect.stringContaining('exists again') }),
    ]);
    expect(connectGrants()).toEqual(before);
  });
});
