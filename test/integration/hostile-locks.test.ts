import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deactivateDbUser } from '../../functions/lib/postgres/offboard';
import { withAdminConnection } from '../../functions/lib/postgres/connection';
import { type EndedSession, sessionsEndedOn } from '../../functions/lib/postgres/watchdog';
import type { ExecutionRecord } from '../../dev/asl-runner';
import { createSandbox, QUARANTINE_ROLE, type Sandbox } from '../../dev/sandbox';
import { masterClient, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

/**
 * Hostile logins holding the locks the workflows take: the project's advisory keys are
 * predictable (hashtext of a documented string), tables the leaver owns are readable, and a
 * user may rewrite its own pg_authid row. None of it may delay blocking a user or fail a run.
 */

/** What the workflows below must finish within, attacked (unattacked they take well under a second here). */
const BOUND_MS = 5_000;

let sb: Sandbox;
beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
});
afterEach(() => sb.restore());

const opened: pg.Client[] = [];
afterEach(async () => {
  for (const c of opened.splice(0)) await c.end().catch(() => undefined);
});

const login = async (user: string, password: string, database = 'postgres'): Promise<pg.Client> => {
  const c = new pg.Client({ host: testPg().host, port: testPg().port, user, password, database });
  c.on('error', () => undefined); // ended by the workflow, on purpose
  await c.connect();
  opened.push(c);
  return c;
};

const pidOf = async (c: pg.Client): Promise<number> => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

const alive = async (pids: number[]): Promise<number[]> => {
  const sup = await superClient();
  try {
    return (await sup.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[]) ORDER BY pid', [pids])).rows.map((r) => r.pid);
  } finally {
    await sup.end();
  }
};

/** An ordinary login: no membership, no privilege beyond what PUBLIC has. */
const accomplice = async (): Promise<{ name: string; session: () => Promise<pg.Client> }> => {
  const name = uniqueName('accomplice');
  const sup = await superClient();
  await sup.query(`CREATE ROLE "${name}" LOGIN PASSWORD 'acc-pw'`);
  await sup.end();
  return { name, session: () => login(name, 'acc-pw') };
};

const onboard = async (principalArn: string, extra: Record<string, unknown> = {}): Promise<ExecutionRecord> => {
  const requestId = uniqueName('on');
  return sb.runner.run('onboard', requestId, { requestId, principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'], ...extra });
};
const offboard = async (input: Record<string, unknown>): Promise<ExecutionRecord> => {
  const requestId = uniqueName('off');
  return sb.runner.run('offboard', requestId, { requestId, target: 'orders', ...input });
};

const endedIn = (exec: ExecutionRecord, state: string): EndedSession[] =>
  exec.taskOutputs.filter((t) => t.state === state).flatMap((t) => (t.output as { blockersEnded?: EndedSession[] }).blockersEnded ?? []);

const timed = async <T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> => {
  const start = Date.now();
  const result = await run();
  return { result, ms: Date.now() - start };
};

/** An onboarded user that can also log in with a password (only so the test can act as it). */
const onboardedLeaver = async (prefix: string): Promise<{ name: string; principalArn: string }> => {
  const name = uniqueName(prefix);
  const principalArn = sb.aws.iam.addRole(name);
  const exec = await onboard(principalArn);
  expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
  const sup = await superClient();
  await sup.query(`ALTER ROLE "${name}" PASSWORD 'leaver-pw'`);
  await sup.end();
  return { name, principalArn };
};

describe('hostile lock holders (real PostgreSQL, real workflows)', () => {
  it.each([
    ['a session-level advisory lock', 'SELECT pg_advisory_lock(hashtext($1))'],
    ['an open transaction holding the transaction-level lock', 'BEGIN; SELECT pg_advisory_xact_lock(hashtext($1))'],
  ])(
    'the leaver holds its own role key (%s) and its pg_authid row: offboarding still succeeds in bounded time',
    async (_kind, grab) => {
      const { name, principalArn } = await onboardedLeaver('LockHolder');
      const key = `rds-iam-access:role:${name}`;
      const holder = await login(name, 'leaver-pw');
      // One statement at a time: a query with parameters is a single statement.
      for (const sql of grab.split('; ')) await holder.query(sql, sql.includes('$1') ? [key] : []);
      // A second session of the leaver rewrites its own role row and keeps the transaction open: ALTER ROLE NOLOGIN waits on it.
      const rowHolder = await login(name, 'leaver-pw');
      await rowHolder.query('BEGIN');
      await rowHolder.query(`ALTER ROLE "${name}" PASSWORD 'changed-by-the-leaver'`);
      const pids = [await pidOf(holder), await pidOf(rowHolder)];

      const { result: exec, ms } = await timed(() => offboard({ dbUser: name, principalArn, reason: 'left, hostile' }));
      expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
      expect(ms).toBeLessThan(BOUND_MS);
      expect(exec.output).toMatchObject({ found: true, status: 'dropped', policyChanges: [{ outcome: 'removed' }] });
      // Both sessions were ended because they stood in the way, and the output says who and why.
      const ended = endedIn(exec, 'DeactivateDbUser');
      expect(ended.map((e) => e.pid).sort()).toEqual([...pids].sort());
      expect(ended.every((e) => e.user === name)).toBe(true);
      expect(ended.find((e) => e.pid === pids[0])?.reason).toMatch(/advisory key/);
      expect((exec.output as { blockersEnded: EndedSession[] }).blockersEnded).toEqual(ended);
      expect(await alive(pids)).toEqual([]);
      expect((await roleFacts(name)).exists).toBe(false);
      expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
      await expect(login(name, 'leaver-pw')).rejects.toThrow();
    },
    30_000,
  );

  it("an ordinary login holds another user's onboarding keys (role, database, marker): the onboarding still succeeds in bounded time", async () => {
    const acc = await accomplice();
    const name = uniqueName('Newcomer');
    const principalArn = sb.aws.iam.addRole(name);
    const sessionLevel = await acc.session();
    await sessionLevel.query('SELECT pg_advisory_lock(hashtext($1)), pg_advisory_lock(hashtext($2))', [`rds-iam-access:role:${name}`, 'rds-iam-access:marker']);
    const inTransaction = await acc.session();
    await inTransaction.query('BEGIN');
    await inTransaction.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['rds-iam-access:database:app']);
    const pids = [await pidOf(sessionLevel), await pidOf(inTransaction)];

    const { result: exec, ms } = await timed(() => onboard(principalArn));
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(ms).toBeLessThan(BOUND_MS);
    expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: true });
    expect(sb.aws.iam.connectGrants('role', name)).toHaveLength(1);
    const ended = endedIn(exec, 'CreateDbUser');
    expect(ended.map((e) => e.pid).sort()).toEqual([...pids].sort());
    expect(ended.every((e) => e.user === acc.name && /advisory key/.test(e.reason))).toBe(true);
    expect(await alive(pids)).toEqual([]);
  }, 30_000);

  it("an accomplice holds locks on the leaver's table and view, and on the leaver's role, " +
    'during RetireDbUser: offboarding still succeeds and keeps the data', async () => {
    const { name, principalArn } = await onboardedLeaver('Owner');
    const acc = await accomplice();
    // Granted by the master user, as on RDS: a superuser's grant is one the admin could not revoke.
    const sup = await superClient();
    await sup.query(`GRANT CREATE ON SCHEMA public TO ${testPg().masterUser} WITH GRANT OPTION`);
    await sup.end();
    const master = await masterClient();
    await master.query(`GRANT CREATE ON SCHEMA public TO "${name}"`);
    await master.end();
    const table = `kept_${name.toLowerCase()}`;
    const leaver = await login(name, 'leaver-pw');
    await leaver.query(`CREATE TABLE public.${table} (id int PRIMARY KEY, v text)`);
    await leaver.query(`INSERT INTO public.${table} SELECT g, 'row ' || g FROM generate_series(1, 10) g`);
    await leaver.query(`CREATE VIEW public.v_${table} AS SELECT * FROM public.${table}`);
    await leaver.query(`GRANT SELECT ON public.${table}, public.v_${table} TO PUBLIC`);
    await leaver.end();

    // REASSIGN OWNED needs ACCESS EXCLUSIVE on the table and the view; DROP ROLE locks the role,
    // which an open GRANT to the role (on a temporary table anyone may create) holds.
    const onTable = await acc.session();
    await onTable.query('BEGIN');
    await onTable.query(`LOCK TABLE public.${table} IN ACCESS SHARE MODE`);
    const onView = await acc.session();
    await onView.query('BEGIN');
    await onView.query(`SELECT count(*) FROM public.v_${table}`);
    const onRole = await acc.session();
    await onRole.query('BEGIN');
    await onRole.query('CREATE TEMPORARY TABLE bait (x int)');
    await onRole.query(`GRANT SELECT ON bait TO "${name}"`);
    const pids = [await pidOf(onTable), await pidOf(onView), await pidOf(onRole)];

    const { result: exec, ms } = await timed(() => offboard({ dbUser: name, principalArn }));
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(ms).toBeLessThan(BOUND_MS);
    expect(exec.output).toMatchObject({ status: 'dropped' });
    const ended = endedIn(exec, 'RetireDbUser');
    expect(ended.map((e) => e.pid).sort()).toEqual([...pids].sort());
    expect(ended.every((e) => e.user === acc.name)).toBe(true);
    expect((exec.output as { retire: { blockersEnded: EndedSession[] } }).retire.blockersEnded).toEqual(ended);
    expect(await alive(pids)).toEqual([]);
    const check = await superClient();
    try {
      expect((await check.query(`SELECT count(*)::int AS n FROM public.${table}`)).rows[0].n).toBe(10);
      expect((await check.query('SELECT tableowner::text AS o FROM pg_tables WHERE tablename = $1', [table])).rows[0].o).toBe('data_owner');
      // Views run with their owner's rights: offboarding quarantines them (data goes to the successor).
      expect((await check.query('SELECT viewowner::text AS o FROM pg_views WHERE viewname = $1', [`v_${table}`])).rows[0].o).toBe(QUARANTINE_ROLE);
    } finally {
      await check.end();
    }
    expect((await roleFacts(name)).exists).toBe(false);
  }, 30_000);

  it("the admin's own session (another execution) holding the key is waited for, not ended; an accomplice queued behind it is", async () => {
    const { name } = await onboardedLeaver('Patient');
    const key = `rds-iam-access:role:${name}`;
    const otherExecution = await masterClient();
    opened.push(otherExecution);
    await otherExecution.query('BEGIN');
    await otherExecution.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
    const otherPid = await pidOf(otherExecution);
    // Queued ahead of the admin's request, it would get the key when the other execution commits.
    const acc = await accomplice();
    const queued = await acc.session();
    const queuedPid = await pidOf(queued);
    const queuedWait = queued.query('SELECT pg_advisory_lock(hashtext($1))', [key]).then(
      () => 'got the key',
      () => 'ended',
    );
    await expect
      .poll(async () => (await otherExecution.query('SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND NOT granted', [queuedPid])).rows[0].n)
      .toBe(1);
    const holdMs = 1_500;
    const release = new Promise<void>((resolve) => setTimeout(() => void otherExecution.query('COMMIT').then(() => resolve()), holdMs));

    const { host, port, masterUser, masterPassword } = testPg();
    const { result, ms } = await timed(() =>
      withAdminConnection({ host, port, user: masterUser, password: masterPassword, database: 'postgres' }, async (client) => {
        const deactivated = await deactivateDbUser(client, name, { masterUser, successorRole: 'data_owner' });
        return { deactivated, ended: sessionsEndedOn(client) };
      }),
    );
    await release;
    expect(result.deactivated).toMatchObject({ found: true, loginBlocked: true });
    expect(result.ended.map((e) => [e.pid, e.user])).toEqual([[queuedPid, acc.name]]);
    expect(await queuedWait).toBe('ended');
    // It waited for the other execution to commit, and that session is still there.
    expect(ms).toBeGreaterThanOrEqual(holdMs - 100);
    expect(await alive([otherPid])).toEqual([otherPid]);
    expect((await otherExecution.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    expect((await roleFacts(name)).canLogin).toBe(false);
  }, 30_000);
});

describe('an admin that cannot end sessions', () => {
  it('is refused before it waits on anything (AdminLacksPrivilege naming pg_signal_backend), not left to time out behind a hostile login', async () => {
    const { name } = await onboardedLeaver('Leaver');
    const weak = uniqueName('nosignal_admin');
    const sup = await superClient();
    await sup.query(`CREATE ROLE "${weak}" LOGIN CREATEROLE PASSWORD 'weak-pw'`);
    await sup.end();
    // The leaver holds its own role key, which a waiting admin could not end.
    const leaver = await login(name, 'leaver-pw');
    await leaver.query('SELECT pg_advisory_lock(hashtext($1))', [`rds-iam-access:role:${name}`]);
    const { host, port } = testPg();
    const { result, ms } = await timed(() =>
      withAdminConnection({ host, port, user: weak, password: 'weak-pw', database: 'postgres' }, (client) =>
        deactivateDbUser(client, name, { masterUser: testPg().masterUser, successorRole: 'data_owner' }).catch((e: unknown) => e as Error & { code?: string }),
      ),
    );
    expect(result).toMatchObject({ code: 'AdminLacksPrivilege' });
    expect((result as Error).message).toContain(`GRANT pg_signal_backend TO ${weak}`);
    expect(ms).toBeLessThan(2_000);
    const cleanup = await superClient();
    await cleanup.query(`DROP ROLE "${weak}"`);
    await cleanup.end();
  });
});
