/**
 * Issue 11, "Show it": the admin's session is ended by the server between two statements of every database
 * step, at every statement in turn, and the workflow still ends as it should (the state machines retry the
 * step; the steps are idempotent). The session is really terminated (pg_terminate_backend from a superuser),
 * just before the chosen statement is sent; nothing in the project is stubbed.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { connectGrantees, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

type Query = typeof pg.Client.prototype.query;
const originalQuery: Query = pg.Client.prototype.query;

/** Counts the admin's statements; when armed with n, ends the session just before the n-th one from then. */
const injector = {
  seen: 0,
  armedAt: undefined as number | undefined,
  ended: [] as string[],
};

const isAdmin = (c: pg.Client): boolean =>
  (c as unknown as { connectionParameters: { user: string; application_name?: string } }).connectionParameters.application_name === 'rds-iam-access';

const install = (): void => {
  pg.Client.prototype.query = async function (this: pg.Client, ...args: Parameters<Query>) {
    if (isAdmin(this)) {
      injector.seen++;
      if (injector.armedAt !== undefined && injector.seen === injector.armedAt) {
        injector.armedAt = undefined;
        const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text;
        injector.ended.push(text.replace(/\s+/g, ' ').slice(0, 80));
        const sup = await superClient();
        try {
          await sup.query('SELECT pg_terminate_backend($1, 5000)', [(this as unknown as { processID: number }).processID]);
        } finally {
          await sup.end();
        }
        // Let the driver see the FATAL 57P01 the server sends before the statement goes out.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  } as Query;
};

let sb: Sandbox;
beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  install();
  injector.seen = 0;
  injector.armedAt = undefined;
  injector.ended = [];
});
afterEach(() => {
  pg.Client.prototype.query = originalQuery;
  sb.restore();
});

const onboard = (_name: string, principalArn: string) => {
  const requestId = uniqueName('on');
  return sb.runner.run('onboard', requestId, { requestId, principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'] });
};
const offboard = (name: string) => {
  const requestId = uniqueName('off');
  return sb.runner.run('offboard', requestId, { requestId, target: 'orders', dbUser: name });
};

/** How many admin statements a clean run of `run` sends: every one of them is then a place to end the session. */
const statementsOf = async (run: () => Promise<{ status: string }>): Promise<number> => {
  injector.seen = 0;
  const exec = await run();
  expect(exec.status).toBe('SUCCEEDED');
  return injector.seen;
};

describe('the admin session ended before each statement of each database step (real 57P01, real retries)', () => {
  it('onboarding: every place ends with the user, its role and its grant', async () => {
    // The first onboarding also creates the marker role: count the places on the second.
    const warm = uniqueName('Warm');
    await statementsOf(() => onboard(warm, sb.aws.iam.addRole(warm)));
    const probe = uniqueName('Probe');
    const places = await statementsOf(() => onboard(probe, sb.aws.iam.addRole(probe)));
    expect(places).toBeGreaterThan(5);
    for (let at = 1; at <= places; at++) {
      const name = uniqueName(`Kill${at}x`);
      const principalArn = sb.aws.iam.addRole(name);
      injector.seen = 0;
      injector.armedAt = at;
      const exec = await onboard(name, principalArn);
      expect(exec.status, `session ended before statement ${at} (${injector.ended.at(-1)}): ${exec.error} ${exec.cause}`).toBe('SUCCEEDED');
      const role = await roleFacts(name);
      expect(role, `statement ${at}`).toMatchObject({ exists: true, canLogin: true });
      expect(role.memberOf, `statement ${at}`).toEqual(expect.arrayContaining(['rds_iam', 'app_read']));
      expect(sb.aws.iam.connectGrants('role', name).length, `statement ${at}`).toBe(1);
    }
    expect(injector.ended).toHaveLength(places);
  }, 120_000);

  it('offboarding: every place ends with the user dropped, its grant gone and its table kept', async () => {
    const setup = async (name: string) => {
      const principalArn = sb.aws.iam.addRole(name);
      expect((await onboard(name, principalArn)).status).toBe('SUCCEEDED');
      const sup = await superClient();
      try {
        await sup.query(`CREATE TABLE public."t_${name}" (id int)`);
        await sup.query(`INSERT INTO public."t_${name}" SELECT generate_series(1, 10)`);
        await sup.query(`ALTER TABLE public."t_${name}" OWNER TO "${name}"`);
      } finally {
        await sup.end();
      }
    };
    // The first offboarding also creates the quarantine role: count the places on the second.
    const warm = uniqueName('Warm');
    await setup(warm);
    await statementsOf(() => offboard(warm));
    const probe = uniqueName('Probe');
    await setup(probe);
    const places = await statementsOf(() => offboard(probe));
    expect(places).toBeGreaterThan(5);
    for (let at = 1; at <= places; at++) {
      const name = uniqueName(`Kill${at}y`);
      await setup(name);
      injector.seen = 0;
      injector.armedAt = at;
      const exec = await offboard(name);
      expect(exec.status, `session ended before statement ${at} (${injector.ended.at(-1)}): ${exec.error} ${exec.cause}`).toBe('SUCCEEDED');
      expect((await roleFacts(name)).exists, `statement ${at}`).toBe(false);
      expect(sb.aws.iam.connectGrants('role', name), `statement ${at}`).toEqual([]);
      expect(await connectGrantees('app'), `statement ${at}`).not.toContain(name);
      const sup = await superClient();
      try {
        expect((await sup.query(`SELECT count(*)::int AS n FROM public."t_${name}"`)).rows[0].n, `statement ${at}`).toBe(10);
      } finally {
        await sup.end();
      }
    }
    expect(injector.ended).toHaveLength(places);
  }, 180_000);
});
