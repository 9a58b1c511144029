import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_CONNECT_STATE, DATABASES_GRANTING, DATABASES_NAMING } from '../../functions/lib/postgres/queries';
import { masterClient, uniqueName } from '../support/pg';

/**
 * Onboarding time must not grow with the number of users already holding CONNECT. Wall time is noisy on a
 * shared machine; buffer hits are not: EXPLAIN (ANALYZE, BUFFERS) counts every page a query reads, TOAST
 * chunks included. The naive `aclexplode(datacl)` is measured on the same database as the control, so the
 * test shows the fixture really is large enough to be quadratic there.
 */
const GRANTS = 2000;

let master: pg.Client;
let database: string;
let prefix: string;

const bufferHits = async (sql: string, values: unknown[]): Promise<number> => {
  const { rows } = await master.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, values);
  const plan = (rows[0] as { 'QUERY PLAN': Array<{ Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } }> })['QUERY PLAN'][0].Plan;
  return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
};

beforeAll(async () => {
  master = await masterClient();
  database = uniqueName('acl_scale');
  prefix = uniqueName('bulk');
  await master.query(`CREATE DATABASE ${database}`);
  await master.query(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`);
  // One statement: the roles and their grants in a single round trip.
  await master.query(`DO $$ BEGIN
    FOR i IN 0..${GRANTS - 1} LOOP
      EXECUTE format('CREATE ROLE %I NOLOGIN', '${prefix}_' || i);
      EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', '${database}', '${prefix}_' || i);
    END LOOP; END $$`);
});

afterAll(async () => {
  await master.query(`DROP DATABASE IF EXISTS ${database}`);
  await master.query(`DO $$ BEGIN FOR i IN 0..${GRANTS - 1} LOOP EXECUTE format('DROP ROLE IF EXISTS %I', '${prefix}_' || i); END LOOP; END $$`);
  await master.end();
});

describe(`database ACL queries with ${GRANTS} users holding CONNECT (real PostgreSQL)`, () => {
  it('answer as before: the user holding CONNECT, a group role not holding it, one that does not exist', async () => {
    const state = async (user: string) => (await master.query(DATABASE_CONNECT_STATE, [[database, 'postgres'], user])).rows;
    expect(await state(`${prefix}_1234`)).toEqual(
      expect.arrayContaining([
        { name: database, admin_can_grant: true, user_has_connect: true },
        { name: 'postgres', admin_can_grant: false, user_has_connect: false },
      ]),
    );
    expect((await state('app_read')).find((r) => r.name === database)).toEqual({ name: database, admin_can_grant: true, user_has_connect: false });
    expect((await state('no_such_role')).find((r) => r.name === database)?.user_has_connect).toBe(false);
    expect((await master.query(DATABASES_GRANTING, [`${prefix}_7`])).rows).toEqual([{ name: database }]);
    expect((await master.query(DATABASES_NAMING, [`${prefix}_${GRANTS - 1}`])).rows).toEqual([{ name: database }]);
    expect((await master.query(DATABASES_GRANTING, ['no_such_role'])).rows).toEqual([]);
  });

  it('read the ACL once: pages read stay a small fraction of the naive per-row aclexplode', async () => {
    const naive = await bufferHits(
      `SELECT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2))`,
      [database, 'no_such_role'],
    );
    const connect = await bufferHits(DATABASE_CONNECT_STATE, [[database], 'no_such_role']);
    const granting = await bufferHits(DATABASES_GRANTING, ['no_such_role']);
    const naming = await bufferHits(DATABASES_NAMING, [`${prefix}_0`]);
    // The fixture makes the naive form quadratic (one detoast of ~2,000 entries per entry)...
    expect(naive).toBeGreaterThan(GRANTS * 2);
    // ...while ours read the array once per database: a few pages per database in the cluster.
    for (const [name, hits] of Object.entries({ connect, granting, naming })) expect(hits, `${name}: ${hits} pages vs naive ${naive}`).toBeLessThan(naive / 20);
  });
});
