import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProvisioningError, ProvisioningError } from '../../functions/lib/core/errors';
import { GRANTOR_ROLE, MARKER_ROLE, protectedReason, validateDbUser } from '../../functions/lib/core/identifiers';
import { dropRoleCreatedBy } from '../../functions/lib/postgres/compensate';
import { type DbUserSpec, ensureDbUser } from '../../functions/lib/postgres/onboard';
import { dropManagedRole } from '../../functions/lib/postgres/offboard';
import { allRoles, attempt, connectGrantees, loginClient, masterClient, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

let master: pg.Client;
beforeAll(async () => {
  master = await masterClient();
});
afterAll(async () => {
  await master.end();
});

const spec = (dbUser: string, extra: Partial<DbUserSpec> = {}): DbUserSpec => ({
  dbUser,
  requestId: `req-${dbUser.length}-${Date.now()}`,
  principalArn: 'arn:aws:iam::123456789012:role/app',
  dbRoles: [],
  databases: [],
  protectedNames: { masterUser: testPg().masterUser, successorRole: 'data_owner' },
  ...extra,
});

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return isProvisioningError(e) ? e.code : `untyped ${(e as Error).name}: ${(e as Error).message}`;
  }
};

describe('creating the database user (real PostgreSQL)', () => {
  it('creates the role WITH LOGIN and no password, marks it, grants rds_iam, group roles and CONNECT', async () => {
    const user = uniqueName('alice');
    const s = spec(user, { requestId: 'req-create-1', dbRoles: ['app_read', 'reporting'], databases: ['app'] });
    const result = await ensureDbUser(master, s);
    expect(result.outcome).toBe('created');
    expect(result.createdByThisRequest).toBe(true);
    const facts = await roleFacts(user);
    expect(facts).toMatchObject({ exists: true, canLogin: true, passwordSet: false });
    expect(facts.memberOf).toEqual(['app_read', 'rds_iam', MARKER_ROLE, 'reporting'].sort());
    expect(JSON.parse(facts.comment as string)).toEqual({
      managedBy: 'rds-iam-access',
      createdBy: 'req-create-1',
      principal: 'arn:aws:iam::123456789012:role/app',
    });
    // `app` revokes CONNECT from PUBLIC: the explicit grant is what lets the user in.
    expect(await connectGrantees('app')).toContain(user);
    const sup = await superClient();
    try {
      const { rows } = await sup.query(`SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles WHERE rolname = $1`, [user]);
      expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false });
    } finally {
      await sup.end();
    }
  });

  it('a second run changes nothing and says so', async () => {
    const user = uniqueName('bob');
    const s = spec(user, { dbRoles: ['app_read'], databases: ['app'] });
    await ensureDbUser(master, s);
    const before = [await roleFacts(user), await connectGrantees('app'), await allRoles()];
    const again = await ensureDbUser(master, s);
    expect(again).toMatchObject({ outcome: 'already present', statements: [], createdByThisRequest: true });
    expect([await roleFacts(user), await connectGrantees('app'), await allRoles()]).toEqual(before);
    // Another request for the same user: still nothing to do, and it did not create the role.
    const other = await ensureDbUser(master, { ...s, requestId: 'req-other' });
    expect(other).toMatchObject({ outcome: 'already present', createdByThisRequest: false });
  });

  it('brings a managed role to the requested state: a new group role, and LOGIN back on', async () => {
    const user = uniqueName('carol');
    await ensureDbUser(master, spec(user, { dbRoles: ['app_read'] }));
    await master.query(`ALTER ROLE "${user}" NOLOGIN`);
    const result = await ensureDbUser(master, spec(user, { dbRoles: ['app_read', 'app_write'] }));
    expect(result.outcome).toBe('updated');
    // The first grant of app_write on this server also hands it to the grantor (whichever test grants it first).
    const own = result.statements.filter((s) => !s.sql.startsWith(`GRANT "app_write" TO "${GRANTOR_ROLE}"`));
    expect(own.map((s) => s.sql)).toEqual([`ALTER ROLE "${user}" WITH LOGIN`, `GRANT "app_write" TO "${user}"`]);
    expect(own.map((s) => s.asGrantor)).toEqual([undefined, true]);
    expect((await roleFacts(user)).memberOf).toContain('app_write');
    expect((await roleFacts(user)).canLogin).toBe(true);
  });

  it('refuses an existing role without the marker and leaves it exactly as it was', async () => {
    const user = uniqueName('legacy_pw_user');
    await master.query(`CREATE ROLE "${user}" LOGIN PASSWORD 'secret-pw'`);
    const before = await roleFacts(user);
    const error = await ensureDbUser(master, spec(user, { dbRoles: ['app_read'], databases: ['app'] })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProvisioningError);
    expect((error as ProvisioningError).code).toBe('UnmanagedRoleConflict');
    expect((error as ProvisioningError).httpStatus).toBe(409);
    expect(await roleFacts(user)).toEqual(before);
    expect(before).toMatchObject({ passwordSet: true, memberOf: [] });
    expect(await connectGrantees('app')).not.toContain(user);
  });

  it('refuses unknown group roles and databases before changing anything', async () => {
    const user = uniqueName('dave');
    const before = await allRoles();
    expect(await codeOf(ensureDbUser(master, spec(user, { dbRoles: ['no_such_group'] })))).toBe('UnknownGroupRole');
    expect(await codeOf(ensureDbUser(master, spec(user, { databases: ['no_such_db'] })))).toBe('UnknownDatabase');
    expect(await allRoles()).toEqual(before);
  });

  it('refuses the master user and the admin itself even when asked directly', async () => {
    expect(await codeOf(ensureDbUser(master, spec(testPg().masterUser)))).toBe('ProtectedRole');
  });

  it('checks the admin can do it before the first change, and says what to grant', async () => {
    const sup = await superClient();
    const weak = uniqueName('weak_admin');
    const user = uniqueName('erin');
    await sup.query(`CREATE ROLE "${weak}" LOGIN CREATEROLE PASSWORD 'weak-pw'`);
    const before = await allRoles();
    const { Client } = await import('pg');
    const client = new Client({ host: testPg().host, port: testPg().port, user: weak, password: 'weak-pw', database: 'postgres' });
    await client.connect();
    try {
      const error = (await ensureDbUser(client, spec(user, { dbRoles: ['app_read'], databases: ['app'] })).catch((e: unknown) => e)) as ProvisioningError;
      expect(error.code).toBe('AdminLacksPrivilege');
      expect(error.message).toContain(`GRANT rds_iam TO ${weak} WITH ADMIN OPTION`);
      expect(error.message).toContain(`GRANT app_read TO ${weak} WITH ADMIN OPTION`);
      expect(error.message).toContain(`GRANT CONNECT ON DATABASE app TO ${weak} WITH GRANT OPTION`);
      // Without it a hostile login could hold up the offboarding of the user this admin creates.
      expect(error.message).toContain(`GRANT pg_signal_backend TO ${weak}`);
      expect(await allRoles()).toEqual(before);
    } finally {
      await client.end();
      await sup.query(`DROP ROLE "${weak}"`);
      await sup.end();
    }
  });

  it('concurrent onboardings granting CONNECT on one database all land (no "tuple concurrently updated")', async () => {
    const { Client } = await import('pg');
    const users = Array.from({ length: 8 }, () => uniqueName('conc'));
    const results = await Promise.all(
      users.map(async (u) => {
        const c = new Client({ host: testPg().host, port: testPg().port, user: testPg().masterUser, password: testPg().masterPassword, database: 'postgres' });
        await c.connect();
        try {
          return await ensureDbUser(c, spec(u, { databases: ['app'], dbRoles: ['app_read'] }));
        } finally {
          await c.end();
        }
      }),
    );
    expect(results.map((r) => r.outcome)).toEqual(users.map(() => 'created'));
    const grantees = await connectGrantees('app');
    for (const u of users) expect(grantees).toContain(u);
  });

  it('the same user requested several times at once: one creates, the others find it', async () => {
    const { Client } = await import('pg');
    const user = uniqueName('same');
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const c = new Client({ host: testPg().host, port: testPg().port, user: testPg().masterUser, password: testPg().masterPassword, database: 'postgres' });
        await c.connect();
        try {
          return (await ensureDbUser(c, spec(user, { requestId: `req-same-${i}`, databases: ['app'] }))).outcome;
        } finally {
          await c.end();
        }
      }),
    );
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'already present')).toHaveLength(4);
  });
});

describe('hostile identifiers', () => {
  const master63 = 'a'.repeat(63);
  const cases: Array<[name: string, expected: 'rejected' | 'quoted']> = [
    ['"; DROP ROLE postgres; --', 'rejected'],
    ["Robert'); DROP TABLE students;--", 'rejected'],
    ['a"b', 'rejected'],
    ["a'b", 'rejected'],
    ['back\\slash', 'rejected'],
    ['white space', 'rejected'],
    ['semi;colon', 'rejected'],
    ['ünïcödé', 'rejected'],
    ['名前', 'rejected'],
    ['emoji😀', 'rejected'],
    ['a'.repeat(64), 'rejected'],
    ['é'.repeat(32), 'rejected'], // 64 bytes in 32 characters
    ['nul\0byte', 'rejected'],
    ['', 'rejected'],
    ['wild*card', 'rejected'],
    ['what?', 'rejected'],
    ['${aws:username}', 'rejected'],
    ['path/like', 'rejected'],
    ['colon:name', 'rejected'],
    ['-leading-dash', 'rejected'],
    ['1digit', 'rejected'],
    ['pg_evil', 'rejected'],
    ['PG_Monitor', 'rejected'],
    ['rds_superuser', 'rejected'],
    ['RDSADMIN', 'rejected'],
    ['public', 'rejected'],
    ['PUBLIC', 'rejected'],
    ['postgres', 'rejected'],
    ['current_user', 'rejected'],
    ['session_user', 'rejected'],
    ['none', 'rejected'],
    [MARKER_ROLE, 'rejected'],
    ['data_owner', 'rejected'],
    [master63, 'quoted'],
    ['MixedCase_User', 'quoted'],
    ['ALLUPPER', 'quoted'],
    ['dots.and@at+eq=dash-x', 'quoted'],
    ['select', 'quoted'], // an SQL keyword: fine once quoted
  ];

  it.each(cases)('%j is %s', async (name, expected) => {
    const before = await allRoles();
    let validated: string | undefined;
    try {
      validated = validateDbUser(name, { masterUser: testPg().masterUser, successorRole: 'data_owner' });
    } catch (e) {
      expect(isProvisioningError(e) && ['ValidationError', 'ProtectedRole'].includes(e.code)).toBe(true);
    }
    if (expected === 'rejected') {
      expect(validated).toBeUndefined();
      expect(await allRoles()).toEqual(before);
      return;
    }
    expect(validated).toBe(name);
    // Unique per run: a name accepted here is created for real, exactly as spelled.
    const actual = name === master63 ? name : `${name}_${process.pid % 1000}`;
    await ensureDbUser(master, spec(actual, { databases: ['app'] }));
    const facts = await roleFacts(actual);
    expect(facts.exists).toBe(true);
    expect(facts.memberOf).toContain('rds_iam');
    const after = await allRoles();
    expect(after.filter((r) => !before.includes(r)).map((r) => JSON.parse(r).name)).toEqual([actual]);
    const sup = await superClient();
    await sup.query(`REVOKE ALL ON DATABASE app FROM ${master.escapeIdentifier(actual)}`);
    await sup.query(`DROP ROLE IF EXISTS ${master.escapeIdentifier(actual)}`);
    await sup.end();
  });

  it('quoting holds even if validation were bypassed: the injection becomes a role name', async () => {
    const evil = `evil_${process.pid}"; DROP ROLE ${testPg().masterUser}; --`;
    await ensureDbUser(master, spec(evil));
    expect((await roleFacts(evil)).exists).toBe(true);
    expect((await roleFacts(testPg().masterUser)).exists).toBe(true);
  });
});

describe('compensation', () => {
  it('drops the role only when this request created it (after revoking its database grants)', async () => {
    const user = uniqueName('frank');
    await ensureDbUser(master, spec(user, { requestId: 'req-frank', databases: ['app'] }));
    expect((await dropRoleCreatedBy(master, user, 'req-someone-else')).outcome).toBe('kept: not created by this request');
    expect((await roleFacts(user)).exists).toBe(true);
    const dropped = await dropRoleCreatedBy(master, user, 'req-frank');
    expect(dropped.outcome).toBe('dropped');
    expect((await roleFacts(user)).exists).toBe(false);
    expect(await connectGrantees('app')).not.toContain(user);
    expect((await dropRoleCreatedBy(master, user, 'req-frank')).outcome).toBe('absent');
  });

  it('never drops an unmanaged role, whatever its comment says', async () => {
    const user = uniqueName('impostor');
    await master.query(`CREATE ROLE "${user}" LOGIN`);
    await master.query(`COMMENT ON ROLE "${user}" IS '{"managedBy":"rds-iam-access","createdBy":"req-x"}'`);
    expect((await dropRoleCreatedBy(master, user, 'req-x')).outcome).toBe('kept: not managed');
    expect((await roleFacts(user)).exists).toBe(true);
  });
});

/** Who granted each membership of `user` (pg_auth_members.grantor), as "role by grantor". */
const grantorsOf = async (user: string): Promise<string[]> => {
  const sup = await superClient();
  try {
    const { rows } = await sup.query<{ g: string }>(
      `SELECT r.rolname || ' by ' || gr.rolname AS g FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles gr ON gr.oid = am.grantor
        WHERE am.member = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`,
      [user],
    );
    return rows.map((r) => r.g);
  } finally {
    await sup.end();
  }
};

describe('memberships are granted as the grantor role (PostgreSQL 16+: a GRANT costs the same whatever the fleet)', () => {
  it('a new user: its memberships are granted by the grantor; the admin may SET ROLE to it but does not inherit it', async () => {
    const user = uniqueName('granted');
    await ensureDbUser(master, spec(user, { dbRoles: ['app_read'], databases: ['app'] }));
    expect(await grantorsOf(user)).toEqual(['app_read', 'rds_iam', MARKER_ROLE].sort().map((r) => `${r} by ${GRANTOR_ROLE}`));
    const { rows } = await master.query<{ set: boolean; inherit: boolean }>(
      `SELECT pg_has_role(current_user, $1, 'SET') AS set, pg_has_role(current_user, $1, 'USAGE') AS inherit`,
      [GRANTOR_ROLE],
    );
    expect(rows[0]).toEqual({ set: true, inherit: false });
    // The grantor logs in as nobody and holds nothing but the right to grant: no member of what it grants.
    expect(await roleFacts(GRANTOR_ROLE)).toMatchObject({ exists: true, canLogin: false });
    const reach = await master.query<{ usage: boolean; set: boolean; admin: boolean }>(
      `SELECT pg_has_role($1, 'app_read', 'USAGE') AS usage, pg_has_role($1, 'app_read', 'SET') AS set, ` +
        `pg_has_role($1, 'app_read', 'MEMBER WITH ADMIN OPTION') AS admin`,
      [GRANTOR_ROLE],
    );
    expect(reach.rows[0]).toEqual({ usage: false, set: false, admin: true });
  });

  it('an ordinary login cannot act as the grantor, and a managed user cannot be given it', async () => {
    const sup = await superClient();
    const login = uniqueName('hopeful');
    await sup.query(`CREATE ROLE "${login}" LOGIN PASSWORD 'pw'`);
    const c = await loginClient(login, 'pw', 'postgres');
    try {
      expect(await attempt(c, `SET ROLE ${GRANTOR_ROLE}`)).toEqual({ sqlstate: '42501' });
      expect(await attempt(c, `GRANT rds_iam TO "${login}"`)).toEqual({ sqlstate: '42501' });
      expect(await codeOf(ensureDbUser(master, spec(GRANTOR_ROLE)))).toBe('ProtectedRole');
      // Nor can it be put on a target's allow-list (the configuration check refuses protected names).
      expect(protectedReason(GRANTOR_ROLE)).toBeDefined();
    } finally {
      await c.end();
      await sup.query(`DROP ROLE "${login}"`);
      await sup.end();
    }
  });

  it("a grantor that is not the admin's alone (a CREATEROLE role slipped in as a member) is refused, and nothing is granted as it", async () => {
    const sup = await superClient();
    const intruder = uniqueName('intruder');
    await sup.query(`CREATE ROLE "${intruder}" LOGIN CREATEROLE PASSWORD 'pw'`);
    // As if the intruder had created the grantor first and handed it to the admin: it is a member besides the admin.
    await sup.query(`GRANT ${GRANTOR_ROLE} TO "${intruder}" WITH SET TRUE`);
    const user = uniqueName('not_granted');
    try {
      const error = (await ensureDbUser(master, spec(user, { dbRoles: ['app_read'] })).catch((e: unknown) => e)) as ProvisioningError;
      expect(error.code).toBe('ConfigurationError');
      expect(error.message).toContain(`other members: ${intruder}`);
      expect((await roleFacts(user)).exists).toBe(false);
    } finally {
      await sup.query(`REVOKE ${GRANTOR_ROLE} FROM "${intruder}"`);
      await sup.query(`DROP ROLE "${intruder}"`);
      await sup.end();
    }
    // With the intruder gone the grantor is the admin's again.
    expect((await ensureDbUser(master, spec(user, { dbRoles: ['app_read'] }))).outcome).toBe('created');
  });

  it('taking back what the grantor granted when the admin has lost SET on it: the admin grants itself SET again (it created the role)', async () => {
    const user = uniqueName('revoke_only');
    await ensureDbUser(master, spec(user, { dbRoles: ['app_read', 'app_write'] }));
    const sup = await superClient();
    try {
      await sup.query(`REVOKE ${GRANTOR_ROLE} FROM ${master.escapeIdentifier(testPg().masterUser)} GRANTED BY ${master.escapeIdentifier(testPg().masterUser)}`);
    } finally {
      await sup.end();
    }
    const result = await ensureDbUser(master, spec(user, { dbRoles: ['app_read'], revokableRoles: ['app_read', 'app_write'] }));
    expect(result.statements.map((s) => `${s.sql}${s.asGrantor ? ' (as grantor)' : ''}`)).toEqual([
      `GRANT "${GRANTOR_ROLE}" TO CURRENT_USER WITH INHERIT FALSE, SET TRUE`,
      `REVOKE "app_write" FROM "${user}" (as grantor)`,
    ]);
    expect((await roleFacts(user)).memberOf).not.toContain('app_write');
  });

  it("taking roles away removes the grantor's grants and those the admin made before the grantor existed", async () => {
    const user = uniqueName('exclusive');
    await ensureDbUser(master, spec(user, { dbRoles: ['app_read', 'app_write'] }));
    // A user onboarded by an earlier version: reporting granted by the admin itself.
    await master.query(`GRANT reporting TO "${user}"`);
    expect(await grantorsOf(user)).toContain(`reporting by ${testPg().masterUser}`);
    const result = await ensureDbUser(master, spec(user, { dbRoles: ['app_read'], revokableRoles: ['app_read', 'app_write', 'reporting'] }));
    expect(result.statements.map((s) => `${s.sql}${s.asGrantor ? ' (as grantor)' : ''}`)).toEqual([
      `REVOKE "app_write" FROM "${user}" (as grantor)`,
      `REVOKE "reporting" FROM "${user}"`,
    ]);
    expect((await roleFacts(user)).memberOf).toEqual(['app_read', 'rds_iam', MARKER_ROLE].sort());
  });

  it('a user DROP ROLE cannot remove yet is left without any membership, whoever granted it', async () => {
    const user = uniqueName('kept');
    await ensureDbUser(master, spec(user, { dbRoles: ['app_read'], databases: ['app'] }));
    await master.query(`GRANT reporting TO "${user}"`);
    // Something DROP ROLE refuses (2BP01): a privilege on an object in another database.
    const sup = await superClient('app');
    const table = uniqueName('held');
    await sup.query(`CREATE TABLE public.${table} (x int)`);
    await sup.query(`GRANT SELECT ON public.${table} TO "${user}"`);
    try {
      const out = await dropManagedRole(master, user);
      expect(out.status).toBe('deactivated-not-dropped');
      expect((await roleFacts(user)).memberOf).toEqual([MARKER_ROLE]);
      expect((await roleFacts(user)).canLogin).toBe(false);
    } finally {
      await sup.query(`DROP TABLE public.${table}`);
      await sup.end();
    }
  });
});
