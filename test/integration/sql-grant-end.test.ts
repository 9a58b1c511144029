/**
 * The end of a time-bound grant in the real database (issue 15): the revokes and NOLOGIN first, then every session of
 * the user ended, then the catalog read again for the proof. The attack: a session that ran SET ROLE before the end
 * keeps acting as the role after a plain REVOKE; the end must take that away too.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProvisioningError } from '../../functions/lib/core/errors';
import { escapeIdentifier } from 'pg';
import { endGrant, type GrantEndSpec } from '../../functions/lib/postgres/grant-end';
import { type DbUserSpec, ensureDbUser } from '../../functions/lib/postgres/onboard';
import { attempt, connectGrantees, loginClient, masterClient, roleFacts, superClient, testPg, uniqueName } from '../support/pg';

let master: pg.Client;
beforeAll(async () => {
  master = await masterClient();
});
afterAll(async () => {
  await master.end();
});

const protectedNames = () => ({ masterUser: testPg().masterUser, successorRole: 'data_owner' });
const onboard = (dbUser: string, extra: Partial<DbUserSpec>) =>
  ensureDbUser(master, {
    dbUser,
    requestId: uniqueName('req'),
    principalArn: 'arn:aws:iam::123456789012:role/app',
    dbRoles: [],
    databases: [],
    protectedNames: protectedNames(),
    ...extra,
  });
const end = (dbUser: string, extra: Partial<GrantEndSpec>) =>
  endGrant(master, { dbUser, revokeRoles: [], revokeDatabases: [], blockLogin: false, protectedNames: protectedNames(), ...extra });

/** A password, as a superuser sets it: only so the test can log in as the user (rds_iam makes tokens the way in). */
const withPassword = async (dbUser: string): Promise<string> => {
  const password = 'p-test-only';
  const s = await superClient();
  try {
    await s.query(`ALTER ROLE ${escapeIdentifier(dbUser)} PASSWORD '${password}'`);
  } finally {
    await s.end();
  }
  return password;
};

/** A table only app_write may write to, in the example database. */
let table: string;
beforeAll(async () => {
  table = uniqueName('ledger');
  const s = await superClient('app');
  try {
    await s.query(`CREATE TABLE ${table} (v int)`);
    await s.query(`GRANT SELECT ON ${table} TO app_read`);
    await s.query(`GRANT SELECT, INSERT ON ${table} TO app_write`);
  } finally {
    await s.end();
  }
});

describe('ending a grant (real PostgreSQL)', () => {
  it('a session that ran SET ROLE is ended: after the end nothing of the role is left, in that session or a new one', async () => {
    const dbUser = uniqueName('elevated');
    await onboard(dbUser, { dbRoles: ['app_read', 'app_write'], databases: ['app'] });
    const session = await loginClient(dbUser, await withPassword(dbUser), 'app');
    await session.query('SET ROLE app_write');
    expect(await attempt(session, `INSERT INTO ${table} VALUES (1)`)).toEqual({ rows: [] });

    // A plain REVOKE alone leaves the session acting as app_write: the reason the end terminates sessions.
    await master.query(`REVOKE app_write FROM ${escapeIdentifier(dbUser)}`);
    expect(await attempt(session, `INSERT INTO ${table} VALUES (2)`)).toEqual({ rows: [] });
    await master.query(`GRANT app_write TO ${escapeIdentifier(dbUser)}`);

    const proof = await end(dbUser, { revokeRoles: ['app_write'], revokeDatabases: [], blockLogin: false });
    expect(proof).toMatchObject({ found: true, sessionsTerminated: 1, verified: { sessionsLeft: 0, rolesLeft: [], connectLeft: [], canLogin: true } });
    // One REVOKE per grantor of the membership (the project's grantor role, and the master's GRANT just above).
    expect(new Set(proof.statements.map((s) => s.sql))).toEqual(new Set([`REVOKE ${escapeIdentifier('app_write')} FROM ${escapeIdentifier(dbUser)}`]));
    await expect(session.query('SELECT 1')).rejects.toThrow();

    // Standing access (app_read, login) is kept; app_write is gone for a new session too.
    const again = await loginClient(dbUser, 'p-test-only', 'app');
    try {
      expect(await attempt(again, `SELECT count(*) FROM ${table}`)).toMatchObject({ rows: [{}] });
      expect(await attempt(again, 'SET ROLE app_write')).toEqual({ sqlstate: '42501' });
      expect(await attempt(again, `INSERT INTO ${table} VALUES (3)`)).toEqual({ sqlstate: '42501' });
    } finally {
      await again.end();
    }
    expect((await roleFacts(dbUser)).memberOf).toEqual(expect.arrayContaining(['app_read', 'rds_iam']));
  });

  it('with nothing else granting access: NOLOGIN, CONNECT revoked, every session ended, and no new login', async () => {
    const dbUser = uniqueName('temporary');
    await onboard(dbUser, { dbRoles: ['app_read'], databases: ['app'] });
    const password = await withPassword(dbUser);
    const sessions = [await loginClient(dbUser, password, 'app'), await loginClient(dbUser, password, 'postgres')];

    const proof = await end(dbUser, { revokeRoles: ['app_read'], revokeDatabases: ['app'], blockLogin: true });
    expect(proof).toMatchObject({ found: true, sessionsTerminated: 2, verified: { sessionsLeft: 0, rolesLeft: [], connectLeft: [], canLogin: false } });
    for (const s of sessions) await expect(s.query('SELECT 1')).rejects.toThrow();
    await expect(loginClient(dbUser, password, 'postgres')).rejects.toThrow(/not permitted to log in/);
    expect(await connectGrantees('app')).not.toContain(dbUser);
    // The role stays (its objects too): an end takes access away, it loses no data.
    expect(await roleFacts(dbUser)).toMatchObject({ exists: true, canLogin: false });
    expect((await roleFacts(dbUser)).memberOf).not.toContain('app_read');
  });

  it('is idempotent: a second end changes nothing and proves the same', async () => {
    const dbUser = uniqueName('twice');
    await onboard(dbUser, { dbRoles: ['app_read'], databases: ['app'] });
    const first = await end(dbUser, { revokeRoles: ['app_read'], revokeDatabases: ['app'], blockLogin: true });
    const second = await end(dbUser, { revokeRoles: ['app_read'], revokeDatabases: ['app'], blockLogin: true });
    expect(first.statements.length).toBeGreaterThan(0);
    expect(second).toMatchObject({ found: true, statements: [], verified: first.verified });
  });

  it('never takes rds_iam or the project roles, and refuses a protected name or a role it does not manage', async () => {
    const dbUser = uniqueName('kept');
    await onboard(dbUser, { dbRoles: ['app_read'] });
    const proof = await end(dbUser, { revokeRoles: ['rds_iam', 'rds_iam_access_managed', 'app_read'] });
    expect(proof.statements.map((s) => s.sql)).toEqual([`REVOKE ${escapeIdentifier('app_read')} FROM ${escapeIdentifier(dbUser)}`]);
    expect((await roleFacts(dbUser)).memberOf).toEqual(expect.arrayContaining(['rds_iam', 'rds_iam_access_managed']));

    const code = async (p: Promise<unknown>) =>
      p.then(
        () => 'no error',
        (e: unknown) => (isProvisioningError(e) ? e.code : String(e)),
      );
    expect(await code(end(testPg().masterUser, { blockLogin: true }))).toBe('ProtectedRole');
    const foreign = uniqueName('foreign');
    await master.query(`CREATE ROLE ${foreign} LOGIN`);
    expect(await code(end(foreign, { blockLogin: true }))).toBe('UnmanagedRoleConflict');
    expect(await roleFacts(foreign)).toMatchObject({ canLogin: true });
  });

  it('a user that is not there: nothing to end, found false', async () => {
    expect(await end(uniqueName('absent'), { revokeRoles: ['app_read'], blockLogin: true })).toMatchObject({ found: false, statements: [] });
  });
});
