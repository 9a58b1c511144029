import { createHash } from 'node:crypto';
import { AttachRolePolicyCommand, CreatePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn } from '../../functions/lib/core/arn';
import { POLICY_PATH, renderPolicy } from '../../functions/lib/iam/policy-document';
import { connectionStats } from '../../functions/lib/postgres/connection';
import { statePath } from '../../dev/asl-runner';
import { createSandbox, QUARANTINE_ROLE, type Sandbox } from '../../dev/sandbox';
import { allRoles, attempt, connectGrantees, loginClient, masterClient, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

let sb: Sandbox;
beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
});
afterEach(() => sb.restore());

const onboard = async (principalArn: string, extra: Record<string, unknown> = {}) => {
  const requestId = uniqueName('on');
  const exec = await sb.runner.run('onboard', requestId, { requestId, principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'], ...extra });
  expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
  return exec;
};
const offboard = async (input: Record<string, unknown>) => {
  const requestId = uniqueName('off');
  return sb.runner.run('offboard', requestId, { requestId, target: 'orders', ...input });
};

const userClient = async (user: string, password: string, database: string): Promise<pg.Client> => {
  const c = new pg.Client({ host: testPg().host, port: testPg().port, user, password, database });
  c.on('error', () => undefined); // terminated by the offboarding, on purpose
  await c.connect();
  return c;
};

describe('offboarding workflow (statemachines/offboard.asl.json)', () => {
  it('blocks, disconnects, revokes, keeps every object and row under the successor, and drops the user', async () => {
    const name = uniqueName('Leaver');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    const q = (s: string) => `"${s}"`;

    // The user builds things, as a person would (a password only so this test can log in as it).
    // Grants come from the master user, as on RDS where nobody else is a superuser.
    const sup = await superClient();
    const supApp = await superClient('app');
    const master = await masterClient();
    const masterApp = await masterClient('app');
    await sup.query(`ALTER ROLE ${q(name)} PASSWORD 'test-only'`);
    await sup.query(`GRANT CREATE ON SCHEMA public TO ${testPg().masterUser} WITH GRANT OPTION`);
    await master.query(`GRANT CREATE ON SCHEMA public TO ${q(name)}`);
    await master.query(`GRANT CREATE ON DATABASE app TO ${q(name)}`);
    const inDefault = await userClient(name, 'test-only', 'postgres');
    const inApp = await userClient(name, 'test-only', 'app');
    const table = `t_${name.toLowerCase()}`;
    await inDefault.query(`CREATE TABLE public.${table} (id int primary key, v text)`);
    await inDefault.query(`INSERT INTO public.${table} SELECT g, 'row ' || g FROM generate_series(1, 25) g`);
    const schema = `s_${name.toLowerCase()}`;
    await inApp.query(`CREATE SCHEMA ${schema}`);
    await inApp.query(`CREATE TABLE ${schema}.orders (id int, note text)`);
    await inApp.query(`INSERT INTO ${schema}.orders VALUES (1, 'kept'), (2, 'kept too')`);
    await inApp.query(`CREATE SEQUENCE ${schema}.order_seq`);
    await inApp.query(`CREATE FUNCTION ${schema}.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'`);
    await inApp.query(`CREATE VIEW ${schema}.v_orders AS SELECT * FROM ${schema}.orders`);
    await inApp.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${schema} GRANT SELECT ON TABLES TO app_read`);
    // Grants on objects owned by others, and default privileges naming the user.
    const others = `others_${name.toLowerCase()}`;
    await masterApp.query(`CREATE TABLE public.${others} (x int)`);
    await masterApp.query(`GRANT SELECT, INSERT ON public.${others} TO ${q(name)}`);
    await masterApp.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${q(name)}`);
    expect((await sup.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [name])).rows[0].n).toBe(2);

    const opened = connectionStats.opened;
    const exec = await offboard({ dbUser: name, principalArn, reason: 'left the company' });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    // One admin connection per database per invocation: deactivate (1) + retire (one per database visited).
    expect(connectionStats.opened - opened).toBe(1 + Object.keys((exec.output as { reassigned: object }).reassigned).length);
    expect(statePath(exec)).toEqual(['ValidateOffboard', 'ResolveTarget', 'DeactivateDbUser', 'RevokeConnect', 'IsUserPresent', 'RetireDbUser', 'Done']);
    const out = exec.output as { status: string; sessionsTerminated: number; reassigned: Record<string, number>; policyChanges: Array<{ outcome: string }> };
    expect(out.status, JSON.stringify((exec.output as { retire: unknown }).retire)).toBe('dropped');
    expect(out.sessionsTerminated).toBe(2);
    expect(out.reassigned.postgres).toBeGreaterThanOrEqual(1);
    expect(out.reassigned.app).toBeGreaterThanOrEqual(5);
    expect(out.policyChanges).toMatchObject([{ outcome: 'removed' }]);

    expect((await roleFacts(name)).exists).toBe(false);
    expect((await sup.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [name])).rows[0].n).toBe(0);
    expect(
      (await sup.query(`SELECT count(*)::int AS n, min(tableowner) AS owner FROM (SELECT tableowner FROM pg_tables WHERE tablename = $1) t`, [table])).rows[0],
    ).toEqual({ n: 1, owner: 'data_owner' });
    expect((await sup.query(`SELECT count(*)::int AS n FROM public.${table}`)).rows[0].n).toBe(25);
    const owners = await supApp.query(
      `SELECT c.relname::text AS name, c.relkind::text AS kind, pg_get_userbyid(c.relowner)::text AS owner ` +
        `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`,
      [schema],
    );
    expect(owners.rows).toEqual([
      { name: 'order_seq', kind: 'S', owner: 'data_owner' },
      { name: 'orders', kind: 'r', owner: 'data_owner' },
      // A view reads with its owner's rights: quarantined, not handed to the successor.
      { name: 'v_orders', kind: 'v', owner: QUARANTINE_ROLE },
    ]);
    expect((await supApp.query(`SELECT pg_get_userbyid(nspowner)::text AS o FROM pg_namespace WHERE nspname = $1`, [schema])).rows[0].o).toBe('data_owner');
    expect(
      (await supApp.query(`SELECT pg_get_userbyid(proowner)::text AS o FROM pg_proc WHERE proname = 'answer' AND pronamespace = $1::regnamespace`, [schema]))
        .rows[0].o,
    ).toBe(QUARANTINE_ROLE);
    expect((exec.output as { objects: unknown[] }).objects).toEqual(
      expect.arrayContaining([
        { database: 'app', owner: name, kind: 'view', name: `${schema}.v_orders`, action: 'quarantine', reason: expect.any(String) },
        { database: 'app', owner: name, kind: 'function', name: `${schema}.answer()`, action: 'quarantine', reason: expect.any(String) },
        { database: 'app', owner: name, kind: 'table', name: `${schema}.orders`, action: 'successor', reason: 'data, kept' },
        { database: 'postgres', owner: name, kind: 'table', name: `public.${table}`, action: 'successor', reason: 'data, kept' },
      ]),
    );
    expect((await supApp.query(`SELECT count(*)::int AS n FROM ${schema}.orders`)).rows[0].n).toBe(2);
    expect((await supApp.query(`SELECT count(*)::int AS n FROM public.${others}`)).rows[0].n).toBe(0);
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
    for (const c of [inDefault, inApp, sup, supApp, master, masterApp]) await c.end().catch(() => undefined);
  });

  it('DROP ROLE blocked by a dependency the admin cannot remove: NOLOGIN, memberships revoked, status and dependencies reported', async () => {
    const name = uniqueName('Stuck');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    // A superuser's grant on a superuser's table: an RDS master (not a superuser) cannot revoke it.
    const supApp = await superClient('app');
    const table = `su_${name.toLowerCase()}`;
    await supApp.query(`CREATE TABLE public.${table} (x int)`);
    await supApp.query(`GRANT SELECT ON public.${table} TO "${name}"`);
    const exec = await offboard({ dbUser: name, principalArn });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(exec.output).toMatchObject({ status: 'deactivated-not-dropped', retire: { remainingDependencies: [{ database: 'app', kind: 'a', count: 1 }] } });
    const facts = await roleFacts(name);
    expect(facts).toMatchObject({ exists: true, canLogin: false, memberOf: ['rds_iam_access_managed'] });
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
    // Once a DBA removes the dependency, re-running the same request finishes the job.
    await supApp.query(`REVOKE ALL ON public.${table} FROM "${name}"`);
    await supApp.end();
    const again = await offboard({ dbUser: name, principalArn });
    expect(again.output).toMatchObject({ status: 'dropped' });
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('offboarding twice, and a user never created: both succeed and say what they found', async () => {
    const name = uniqueName('Twice');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    expect((await offboard({ dbUser: name, principalArn })).status).toBe('SUCCEEDED');
    const again = await offboard({ dbUser: name, principalArn });
    expect(again.status).toBe('SUCCEEDED');
    expect(again.output).toMatchObject({ found: false, status: 'not found', policyChanges: [{ outcome: 'absent' }] });
    const never = await offboard({ dbUser: uniqueName('ghost') });
    expect(never.status).toBe('SUCCEEDED');
    expect(never.output).toMatchObject({ found: false, status: 'not found', policyChanges: [] });
  });

  it('an IAM principal already deleted (NoSuchEntity) is not an error; its orphaned grant policy is cleaned up', async () => {
    const name = uniqueName('Deleted');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    sb.aws.iam.deletePrincipal('role', name);
    const exec = await offboard({ dbUser: name, principalArn });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(exec.output).toMatchObject({
      status: 'dropped',
      policyChanges: [{ outcome: 'removed', principalDeleted: true, policies: [{ change: 'deleted' }] }],
    });
    expect([...sb.aws.iam.policies.keys()].filter((a) => a.includes(name))).toEqual([]);
  });

  it('without principalArn, finds the holders through the project-owned policies', async () => {
    const name = uniqueName('Found');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    const exec = await offboard({ dbUser: name });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(exec.output).toMatchObject({ policyChanges: [{ principalArn, outcome: 'removed' }] });
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
  });

  it('refuses an unmanaged role, protected roles and the successor, and changes nothing', async () => {
    const unmanaged = uniqueName('handmade');
    const m = await masterClient();
    await m.query(`CREATE ROLE "${unmanaged}" LOGIN PASSWORD 'pw'`);
    await m.end();
    const before = await allRoles();
    const cases: Array<[string, string]> = [
      [unmanaged, 'UnmanagedRoleConflict'],
      [testPg().masterUser, 'ProtectedRole'],
      ['rds_superuser', 'ProtectedRole'],
      ['rdsadmin', 'ProtectedRole'],
      ['pg_monitor', 'ProtectedRole'],
      ['postgres', 'ProtectedRole'],
      ['data_owner', 'ProtectedRole'],
      ['app_read', 'ProtectedRole'],
    ];
    for (const [dbUser, code] of cases) {
      const exec = await offboard({ dbUser });
      expect({ dbUser, status: exec.status, error: exec.error }).toEqual({ dbUser, status: 'FAILED', error: code });
    }
    expect(await allRoles()).toEqual(before);
  });

  it('a role holding only ADMIN OPTION on the marker role (no INHERIT, no SET) is not managed: offboarding refuses it and changes nothing', async () => {
    await onboard(sb.aws.iam.addRole(uniqueName('First'))); // the admin creates the marker role
    const delegate = uniqueName('delegate');
    const sup = await superClient();
    await sup.query(`CREATE ROLE "${delegate}" LOGIN`);
    await sup.query(`GRANT rds_iam_access_managed TO "${delegate}" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE`);
    await sup.end();
    const before = await allRoles();
    const exec = await offboard({ dbUser: delegate });
    expect({ status: exec.status, error: exec.error }).toEqual({ status: 'FAILED', error: 'UnmanagedRoleConflict' });
    expect(await allRoles()).toEqual(before);
    expect((await roleFacts(delegate)).canLogin).toBe(true);
  });

  it('a principal with grants on three databases loses exactly one statement', async () => {
    const name = uniqueName('Multi');
    const principalArn = sb.aws.iam.addRole(name);
    const users = { orders: uniqueName('m_orders'), analytics: uniqueName('m_analytics'), legacy: uniqueName('m_legacy') };
    for (const [target, dbUser] of Object.entries(users)) {
      const requestId = uniqueName('on');
      const exec = await sb.runner.run('onboard', requestId, { requestId, principalArn, dbUser, target });
      expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    }
    const before = sb.aws.iam.connectGrants('role', name);
    expect(before).toHaveLength(3);
    const exec = await sb.runner.run('offboard', uniqueName('off'), { requestId: 'off-multi', dbUser: users.analytics, target: 'analytics', principalArn });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    const after = sb.aws.iam.connectGrants('role', name);
    expect(after).toHaveLength(2);
    expect(before.filter((g) => !after.includes(g))).toEqual([
      expect.stringMatching(new RegExp(`^arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-[A-Z0-9]+/${users.analytics}$`)),
    ]);
  });

  it('onboard, offboard, onboard again: the final state equals a first onboarding', async () => {
    const name = uniqueName('Returner');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    const first = { facts: await roleFacts(name), connect: (await connectGrantees('app')).includes(name), grants: sb.aws.iam.connectGrants('role', name) };
    expect((await offboard({ dbUser: name, principalArn })).status).toBe('SUCCEEDED');
    expect((await roleFacts(name)).exists).toBe(false);
    await onboard(principalArn);
    const again = { facts: await roleFacts(name), connect: (await connectGrantees('app')).includes(name), grants: sb.aws.iam.connectGrants('role', name) };
    const withoutCreator = (f: typeof first.facts) => ({ ...f, comment: { ...JSON.parse(f.comment as string), createdBy: '(request)' } });
    expect({ ...again, facts: withoutCreator(again.facts) }).toEqual({ ...first, facts: withoutCreator(first.facts) });
  });
});

describe('one principal, one identity: role/NAME and role/PATH/NAME are the same role', () => {
  const ACCOUNT = '123456789012';
  /** The IAM policy evaluator's answer for everything attached to the role now. */
  const canConnect = async (roleName: string, principal: string, resource: string): Promise<boolean> => {
    const result = await runSimulation(
      {
        request: { principal, action: 'rds-db:connect', resource: { resource, accountId: ACCOUNT }, contextVariables: {} },
        identityPolicies: sb.aws.iam.attachedDocuments('role', roleName).map((policy, i) => ({ name: `p${i}`, policy })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (result.resultType === 'error') throw new Error(result.errors.message);
    return result.overallResult === 'Allowed';
  };

  for (const mode of ['role/NAME', 'role/x/NAME', 'no principalArn'] as const) {
    it(`onboarded under both ARNs (and holding a policy named the old way, by ARN with path): offboarding with ${mode} removes every grant`, async () => {
      const name = uniqueName('Alice');
      const plain = sb.aws.iam.addRole(name);
      const pathed = `arn:aws:iam::${ACCOUNT}:role/x/${name}`;
      const dbUser = name.toLowerCase();
      await onboard(plain, { dbUser });
      await onboard(pathed, { dbUser });
      const resource = dbUserResourceArn({
        partition: 'aws',
        region: 'eu-west-1',
        accountId: ACCOUNT,
        resourceId: sb.aws.rds.databases.get('instance/orders-db')!.resourceId,
        dbUser,
      });
      // A grant policy as versions before the principal key wrote it: the hash of the ARN with its path, tagged managed-by.
      const iam = new IAMClient({});
      const legacyName = `rds-iam-access-role-${name}-${createHash('sha256').update(pathed).digest('hex').slice(0, 8)}-0`;
      const legacy = await iam.send(
        new CreatePolicyCommand({
          PolicyName: legacyName,
          Path: POLICY_PATH,
          PolicyDocument: JSON.stringify(renderPolicy([resource])),
          Tags: [{ Key: 'managed-by', Value: 'rds-iam-access' }],
        }),
      );
      await iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: legacy.Policy?.Arn }));
      for (const arn of [plain, pathed]) expect(await canConnect(name, arn, resource)).toBe(true);

      const exec = await offboard({ dbUser, ...(mode === 'role/NAME' ? { principalArn: plain } : mode === 'role/x/NAME' ? { principalArn: pathed } : {}) });
      expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
      expect(exec.output).toMatchObject({ status: 'dropped' });
      for (const arn of [plain, pathed]) expect(await canConnect(name, arn, resource)).toBe(false);
      expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
      expect((await roleFacts(dbUser)).exists).toBe(false);
    });
  }
});

/**
 * The leaver as an adversary: before leaving it plants objects that, once REASSIGN OWNED hands them to
 * the successor, would run with the successor's rights. After offboarding nobody (another login, the
 * same person onboarded again) reaches the successor's data through them, and the leaver's data stays.
 */
describe("offboarding a hostile leaver: what it planted never runs with the successor's rights", () => {
  const q = (s: string) => `"${s}"`;

  /** The successor's table (nobody else may read or write it) and a leaver who planted a view, definer functions and a rule. */
  const plant = async () => {
    const name = uniqueName('Planter');
    const principalArn = sb.aws.iam.addRole(name);
    await onboard(principalArn);
    const lower = name.toLowerCase();
    const payroll = `payroll_${lower}`;
    const mine = `mine_${lower}`;
    const eve = uniqueName('eve');
    const sup = await superClient('app');
    await sup.query(`CREATE TABLE public.${payroll} (who text, salary int)`);
    await sup.query(`INSERT INTO public.${payroll} VALUES ('ceo', 1000000)`);
    await sup.query(`ALTER TABLE public.${payroll} OWNER TO data_owner`);
    await sup.query(`ALTER ROLE ${q(name)} PASSWORD 'test-only'`);
    await sup.query(`GRANT CREATE ON DATABASE app TO ${q(name)}`);
    await sup.query(`CREATE ROLE ${q(eve)} LOGIN PASSWORD 'eve'`);
    await sup.query(`GRANT CONNECT ON DATABASE app TO ${q(eve)}`);

    const leaver = await loginClient(name, 'test-only', 'app');
    await leaver.query(`CREATE SCHEMA ${mine}`);
    await leaver.query(`GRANT USAGE ON SCHEMA ${mine} TO PUBLIC`);
    // (1) A view over the successor's table: it reads with its owner's rights.
    await leaver.query(`CREATE VIEW ${mine}.leak AS SELECT * FROM public.${payroll}`);
    await leaver.query(`GRANT SELECT ON ${mine}.leak TO PUBLIC`);
    // (2) SECURITY DEFINER functions that read and write the successor's table.
    await leaver.query(`CREATE FUNCTION ${mine}.peek() RETURNS SETOF int LANGUAGE sql SECURITY DEFINER AS 'SELECT salary FROM public.${payroll}'`);
    await leaver.query(
      `CREATE FUNCTION ${mine}.raise(w text) RETURNS void LANGUAGE sql SECURITY DEFINER AS 'INSERT INTO public.${payroll} VALUES (w, 999999)'`,
    );
    await leaver.query(`GRANT EXECUTE ON FUNCTION ${mine}.peek(), ${mine}.raise(text) TO PUBLIC`);
    // Granted to the successor with GRANT OPTION, so a careless REVOKE would pick the successor as grantor and revoke nothing.
    await leaver.query(`GRANT EXECUTE ON FUNCTION ${mine}.peek() TO data_owner WITH GRANT OPTION`);
    // (3) The leaver's own table, writable by everyone, with a rule writing into the successor's table.
    await leaver.query(`CREATE TABLE ${mine}.inbox (v text)`);
    await leaver.query(`INSERT INTO ${mine}.inbox SELECT 'kept ' || g FROM generate_series(1, 7) g`);
    await leaver.query(`GRANT SELECT, INSERT ON ${mine}.inbox TO PUBLIC`);
    await leaver.query(`CREATE RULE forward AS ON INSERT TO ${mine}.inbox DO ALSO INSERT INTO public.${payroll} VALUES (NEW.v, 1)`);
    // Before offboarding none of it works: the leaver has no rights on the successor's table.
    const evil = await loginClient(eve, 'eve', 'app');
    expect(await attempt(evil, `SELECT * FROM ${mine}.leak`)).toEqual({ sqlstate: '42501' });
    expect(await attempt(evil, `SELECT ${mine}.peek()`)).toEqual({ sqlstate: '42501' });
    await evil.end();
    await leaver.end();
    return { name, principalArn, payroll, mine, eve, sup };
  };

  /** Every way in the planted objects offered, tried as `user`: none may read or change the successor's table. */
  const tryEveryWayIn = async (user: string, password: string, payroll: string, mine: string, sup: pg.Client) => {
    const before = (await sup.query(`SELECT count(*)::int AS n FROM public.${payroll}`)).rows[0].n as number;
    const c = await loginClient(user, password, 'app');
    try {
      expect.soft(await attempt(c, `SELECT * FROM ${mine}.leak`), 'the view').toEqual({ sqlstate: '42501' });
      expect.soft(await attempt(c, `SELECT ${mine}.peek()`), 'the definer function that reads').toEqual({ sqlstate: '42501' });
      expect.soft(await attempt(c, `SELECT ${mine}.raise('eve')`), 'the definer function that writes').toEqual({ sqlstate: '42501' });
      expect.soft(await attempt(c, `SELECT * FROM public.${payroll}`), 'the table itself').toEqual({ sqlstate: '42501' });
      // The leaver's table stays writable as it was; its rule no longer writes into the successor's table.
      expect.soft(await attempt(c, `INSERT INTO ${mine}.inbox VALUES ('through the rule')`)).toEqual({ rows: [] });
    } finally {
      await c.end();
    }
    expect.soft((await sup.query(`SELECT count(*)::int AS n FROM public.${payroll}`)).rows[0].n, 'rows in the successor table').toBe(before);
  };

  it('the planted view, definer functions and rule give nobody access; the data stays with the successor; the output names them', async () => {
    const { name, principalArn, payroll, mine, eve, sup } = await plant();
    const exec = await offboard({ dbUser: name, principalArn });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(exec.output).toMatchObject({ status: 'dropped' });

    await tryEveryWayIn(eve, 'eve', payroll, mine, sup);
    // The same person, onboarded again under the same name.
    await onboard(principalArn);
    await sup.query(`ALTER ROLE ${q(name)} PASSWORD 'test-only'`);
    await tryEveryWayIn(name, 'test-only', payroll, mine, sup);

    // The leaver's data: its schema and table, every row, now the successor's.
    const owner = async (sql: string) => (await sup.query(sql)).rows[0].o as string;
    expect(await owner(`SELECT pg_get_userbyid(nspowner)::text AS o FROM pg_namespace WHERE nspname = '${mine}'`)).toBe('data_owner');
    expect(await owner(`SELECT pg_get_userbyid(relowner)::text AS o FROM pg_class WHERE oid = '${mine}.inbox'::regclass`)).toBe('data_owner');
    expect((await sup.query(`SELECT count(*)::int AS n FROM ${mine}.inbox WHERE v LIKE 'kept %'`)).rows[0].n).toBe(7);
    // The rest is kept, quarantined, with nobody's grants left on it.
    expect(await owner(`SELECT pg_get_userbyid(relowner)::text AS o FROM pg_class WHERE oid = '${mine}.leak'::regclass`)).toBe(QUARANTINE_ROLE);
    expect(
      (await sup.query(`SELECT pg_get_userbyid(proowner)::text AS o, proacl::text[] AS acl FROM pg_proc WHERE oid = '${mine}.peek()'::regprocedure`)).rows[0],
    ).toEqual({
      o: QUARANTINE_ROLE,
      acl: [`${QUARANTINE_ROLE}=X/${QUARANTINE_ROLE}`],
    });
    expect(
      (await sup.query(`SELECT ev_enabled::text AS e FROM pg_rewrite WHERE rulename = 'forward' AND ev_class = '${mine}.inbox'::regclass`)).rows[0].e,
    ).toBe('D');

    const objects = (exec.output as { objects: Array<{ kind: string; name: string; action: string }> }).objects.filter((o) => o.name.includes(mine));
    expect(objects.map(({ kind, name: n, action }) => ({ kind, name: n, action })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      [
        { kind: 'schema', name: mine, action: 'successor' },
        { kind: 'table', name: `${mine}.inbox`, action: 'successor' },
        { kind: 'view', name: `${mine}.leak`, action: 'quarantine' },
        { kind: 'function', name: `${mine}.peek()`, action: 'quarantine' },
        { kind: 'function', name: `${mine}.raise(pg_catalog.text)`, action: 'quarantine' },
        { kind: 'rule', name: `forward on ${mine}.inbox`, action: 'disable' },
      ].sort((a, b) => a.name.localeCompare(b.name)),
    );
    await sup.end();
  });

  /** The same target, configured differently for the rest of this test (restored by sb.restore). */
  const reconfigure = (reassignment: Record<string, string>) => {
    process.env.TARGETS_CONFIG = JSON.stringify({
      ...sb.config,
      targets: { ...sb.config.targets, orders: { ...sb.config.targets.orders, reassignment: { ...sb.config.targets.orders.reassignment, ...reassignment } } },
    });
  };

  it('unsafeObjects "refuse": nothing is handed over and the objects are reported; with "quarantine" the same request then finishes', async () => {
    const { name, principalArn, mine, sup } = await plant();
    reconfigure({ unsafeObjects: 'refuse' });
    const requestId = uniqueName('off');
    const refused = await sb.runner.run('offboard', requestId, { requestId, target: 'orders', dbUser: name, principalArn });
    expect({ status: refused.status, error: refused.error }).toEqual({ status: 'FAILED', error: 'ReassignmentRefused' });
    expect(refused.cause).toContain(`view ${mine}.leak`);
    expect(refused.cause).toContain(`rule forward on ${mine}.inbox`);
    // Locked out, and in that database nothing moved.
    expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: false });
    const owner = async (sql: string) => (await sup.query(sql)).rows[0].o as string;
    expect(await owner(`SELECT pg_get_userbyid(relowner)::text AS o FROM pg_class WHERE oid = '${mine}.leak'::regclass`)).toBe(name);
    expect(await owner(`SELECT pg_get_userbyid(relowner)::text AS o FROM pg_class WHERE oid = '${mine}.inbox'::regclass`)).toBe(name);

    reconfigure({ unsafeObjects: 'quarantine' });
    const again = await sb.runner.run('offboard', uniqueName('off'), { requestId, target: 'orders', dbUser: name, principalArn });
    expect(again.status, `${again.error}: ${again.cause}`).toBe('SUCCEEDED');
    expect(await owner(`SELECT pg_get_userbyid(relowner)::text AS o FROM pg_class WHERE oid = '${mine}.leak'::regclass`)).toBe(QUARANTINE_ROLE);
    await sup.end();
  });

  it('the quarantine role is created NOLOGIN and keeps no members; one with a member (who could act as it) is refused', async () => {
    const quarantine = uniqueName('quarantine');
    reconfigure({ quarantineRole: quarantine });
    const first = await plant();
    const exec = await offboard({ dbUser: first.name, principalArn: first.principalArn });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    const sup = first.sup;
    const role = await sup.query(
      `SELECT r.rolcanlogin, ARRAY(SELECT m.member::regrole::text || ':' || m.inherit_option || ':' || ` +
        `m.set_option FROM pg_auth_members m WHERE m.roleid = r.oid) AS members
         FROM pg_roles r ` +
        `WHERE r.rolname = $1`,
      [quarantine],
    );
    // Only the admin's PostgreSQL 16+ creator grant, which lets it grant the role but not act as it.
    expect(role.rows).toEqual([{ rolcanlogin: false, members: [`${testPg().masterUser}:false:false`] }]);

    const second = await plant();
    await sup.query(`GRANT "${quarantine}" TO "${second.eve}"`);
    const refused = await offboard({ dbUser: second.name, principalArn: second.principalArn });
    expect({ status: refused.status, error: refused.error }).toEqual({ status: 'FAILED', error: 'ConfigurationError' });
    expect(refused.cause).toContain(`${second.eve} is a member of it`);
    expect((await sup.query(`SELECT pg_get_userbyid(relowner)::text AS o FROM pg_class WHERE oid = '${second.mine}.leak'::regclass`)).rows[0].o).toBe(
      second.name,
    );
    await sup.end();
    await second.sup.end();
  });

  it(
    "triggers running the leaver's code are disabled, expressions calling it fail closed, " +
      "a table running another role's code is quarantined with its rows",
    async () => {
      const { name, principalArn, mine, eve, sup } = await plant();
      // Eve (still here after the leaver goes) owns a function the leaver's table calls: she can change it whenever she likes.
      await sup.query(`CREATE SCHEMA eve_${mine} AUTHORIZATION "${eve}"`);
      await sup.query(`SET ROLE "${eve}"`);
      await sup.query(`CREATE FUNCTION eve_${mine}.pick() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
      await sup.query(`RESET ROLE`);
      await sup.query(`GRANT USAGE ON SCHEMA eve_${mine} TO PUBLIC`);
      const leaver = await loginClient(name, 'test-only', 'app');
      await leaver.query(`CREATE FUNCTION ${mine}.stamp() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN NEW.v := current_user; RETURN NEW; END'`);
      await leaver.query(`CREATE TABLE ${mine}.logged (v text)`);
      await leaver.query(`CREATE TRIGGER stamp BEFORE INSERT ON ${mine}.logged FOR EACH ROW EXECUTE FUNCTION ${mine}.stamp()`);
      await leaver.query(`CREATE FUNCTION ${mine}.next_id() RETURNS int LANGUAGE sql AS 'SELECT 42'`);
      await leaver.query(`CREATE TABLE ${mine}.numbered (id int DEFAULT ${mine}.next_id(), v text)`);
      await leaver.query(`CREATE TABLE ${mine}.borrowed (x int DEFAULT eve_${mine}.pick())`);
      await leaver.query(`INSERT INTO ${mine}.borrowed SELECT g FROM generate_series(1, 5) g`);
      await leaver.end();

      const exec = await offboard({ dbUser: name, principalArn });
      expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
      const decided = (exec.output as { objects?: Array<{ kind: string; name: string; action: string }> }).objects ?? [];
      const action = (n: string) => decided.find((o) => o.name === n)?.action;
      expect.soft(action(`stamp on ${mine}.logged`)).toBe('disable');
      expect.soft(action(`${mine}.logged`)).toBe('successor');
      expect.soft(action(`${mine}.numbered`)).toBe('successor');
      expect.soft(action(`${mine}.borrowed`)).toBe('quarantine');

      // The successor writing to the tables it received runs none of the leaver's code.
      await sup.query(`SET ROLE data_owner`);
      await sup.query(`INSERT INTO ${mine}.logged VALUES ('mine')`);
      expect.soft((await sup.query(`SELECT v FROM ${mine}.logged`)).rows).toEqual([{ v: 'mine' }]);
      expect.soft(await attempt(sup, `INSERT INTO ${mine}.numbered (v) VALUES ('x')`)).toEqual({ sqlstate: '42501' });
      expect(await attempt(sup, `INSERT INTO ${mine}.numbered VALUES (1, 'explicit id')`)).toEqual({ rows: [] });
      await sup.query(`RESET ROLE`);
      expect(
        (
          await sup.query(
            `SELECT pg_get_userbyid(relowner)::text AS o, (SELECT count(*)::int FROM ${mine}.borrowed) AS n FROM ` +
              `pg_class WHERE oid = '${mine}.borrowed'::regclass`,
          )
        ).rows[0],
      ).toEqual({ o: QUARANTINE_ROLE, n: 5 });
      await sup.end();
    },
  );

  it('a table using an extension another role installed (citext) keeps its rows with the successor: extension code is trusted', async () => {
    const { name, principalArn, mine, eve, sup } = await plant();
    // Extension code owned by an ordinary role: it comes from the extension's script, which its owner cannot rewrite in place.
    await sup.query(`CREATE SCHEMA ext_${mine} AUTHORIZATION "${eve}"`);
    await sup.query(`GRANT USAGE ON SCHEMA ext_${mine} TO PUBLIC`);
    await sup.query(`CREATE EXTENSION IF NOT EXISTS citext SCHEMA ext_${mine}`);
    // As on RDS, where the master user (not a superuser) ends up owning what an extension it installs creates.
    await sup.query(
      `DO $$ DECLARE f regprocedure; BEGIN FOR f IN SELECT objid::regprocedure FROM pg_depend WHERE ` +
        `refclassid = 'pg_extension'::regclass AND refobjid = (SELECT oid FROM pg_extension WHERE extname = ` +
        `'citext') AND classid = 'pg_proc'::regclass AND deptype = 'e' LOOP EXECUTE format('ALTER FUNCTION ` +
        `%s OWNER TO %I', f, '${eve}'); END LOOP; END $$`,
    );
    const owner = (
      await sup.query(`SELECT pg_get_userbyid(extowner)::text AS o, extnamespace::regnamespace::text AS s FROM pg_extension WHERE extname = 'citext'`)
    ).rows[0];
    const leaver = await loginClient(name, 'test-only', 'app');
    await leaver.query(`CREATE TABLE ${mine}.names (n ${owner.s}.citext CHECK (${owner.s}.strpos(n, ''::${owner.s}.citext) = 1))`);
    await leaver.query(`INSERT INTO ${mine}.names VALUES ('Ada'), ('Grace'), ('Edsger')`);
    await leaver.end();

    const exec = await offboard({ dbUser: name, principalArn });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    const decided = (exec.output as { objects?: Array<{ name: string; action: string; reason?: string }> }).objects ?? [];
    expect(
      decided.find((o) => o.name === `${mine}.names`),
      `extension owner ${owner.o}`,
    ).toMatchObject({ action: 'successor' });
    expect(
      (
        await sup.query(
          `SELECT pg_get_userbyid(relowner)::text AS o, (SELECT count(*)::int FROM ${mine}.names) AS n FROM pg_class WHERE oid = '${mine}.names'::regclass`,
        )
      ).rows[0],
    ).toEqual({ o: 'data_owner', n: 3 });
    await sup.end();
  });
});
