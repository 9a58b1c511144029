/**
 * Concurrent offboardings in one database (issue 11, item 1). DROP OWNED revokes the user's
 * privileges on shared objects too, so every offboarding rewrites the pg_database rows that name
 * the user; without a lock, concurrent rewrites of one row fail with XX000 "tuple concurrently
 * updated" (and so does an onboarding's GRANT CONNECT racing them). Here nothing retries: every
 * call must succeed the first time.
 */
import { describe, expect, it } from 'vitest';
import { withAdminConnection } from '../../functions/lib/postgres/connection';
import { ensureAdminPrivilegesOf, reassignOwnedHere, versionOf } from '../../functions/lib/postgres/offboard';
import { ensureDbUser } from '../../functions/lib/postgres/onboard';
import { SUCCESSOR_ROLE } from '../../dev/embedded-postgres';
import { connectGrantees, testPg, uniqueName } from '../support/pg';

const config = () => {
  const { host, port, masterUser, masterPassword } = testPg();
  return { host, port, user: masterUser, password: masterPassword, database: 'postgres' };
};
const settings = { unsafeObjects: 'quarantine' as const, quarantineRole: 'iam_access_quarantine' };
const DATABASES = ['app'];

const onboardSql = (dbUser: string) =>
  withAdminConnection(config(), (c) => ensureDbUser(c, { dbUser, requestId: uniqueName('req'), dbRoles: [], databases: DATABASES, protectedNames: {} }));

describe('DROP OWNED of many users at once, while others are granted CONNECT', () => {
  it('succeeds for every one without a retry, and leaves no grant of the leavers', async () => {
    const leavers = Array.from({ length: 8 }, () => uniqueName('leaver'));
    const joiners = Array.from({ length: 4 }, () => uniqueName('joiner'));
    for (const u of leavers) await onboardSql(u);
    await withAdminConnection(config(), (c) => ensureAdminPrivilegesOf(c, SUCCESSOR_ROLE));
    for (const u of leavers) await withAdminConnection(config(), (c) => ensureAdminPrivilegesOf(c, u));

    const results = await Promise.allSettled([
      ...leavers.map((u) =>
        withAdminConnection(config(), async (c) =>
          reassignOwnedHere(c, u, SUCCESSOR_ROLE, settings, { database: 'postgres', includeShared: true, versionNum: await versionOf(c) }),
        ),
      ),
      ...joiners.map(onboardSql),
    ]);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [`${(r.reason as Error).name}: ${(r.reason as Error).message}`] : []));
    expect(failures).toEqual([]);
    for (const db of DATABASES) {
      const grantees = await connectGrantees(db);
      expect(grantees.filter((g) => leavers.includes(g))).toEqual([]);
      expect(joiners.every((j) => grantees.includes(j))).toBe(true);
    }
  });
});
