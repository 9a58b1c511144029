/**
 * Local mode on DATABASE_URL (an existing server instead of the embedded one), run in-process against the test
 * server (the targets files local mode refuses: test/unit/dev/local-mode-config.test.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalMode } from '../../dev/local-mode';
import { dir, file, target } from '../support/local-targets';
import { roleFacts, superClient, testPg, uniqueName } from '../support/pg';

describe('DATABASE_URL: an existing PostgreSQL server instead of the embedded one', () => {
  it('prepares it as a DBA would (missing group roles created), runs an onboarding on it, and leaves it running when stopped', async () => {
    const pg = testPg();
    const group = uniqueName('ext_reader');
    const targetsFile = file({ targets: { ext: target({ allowedDbRoles: [group] }) }, api: { admins: ['arn:aws:iam::123456789012:role/platform-admin'] } });
    const databaseUrl = `postgres://${pg.superUser}:${encodeURIComponent(pg.superPassword)}@127.0.0.1:${pg.port}/postgres`;
    const local = await startLocalMode({ targetsFile, port: 0, databaseUrl, waitMs: 10, archiveDir: join(dir, 'archive') });
    try {
      expect(local.postgresUrl).toContain(`127.0.0.1:${pg.port}`);
      expect((await roleFacts(group)).exists).toBe(true);

      const dbUser = uniqueName('ext_user');
      const res = await fetch(`${local.apiUrl}/access-requests`, {
        method: 'POST',
        headers: { 'x-caller-arn': 'arn:aws:sts::123456789012:assumed-role/platform-admin/ops', 'content-type': 'application/json' },
        body: JSON.stringify({ requestId: uniqueName('ext'), principalArn: 'arn:aws:iam::123456789012:role/ext-app', dbUser, target: 'ext', dbRoles: [group] }),
      });
      expect(res.status).toBe(202);
      await local.runner.idle();
      const facts = await roleFacts(dbUser);
      expect(facts).toMatchObject({ exists: true, canLogin: true });
      expect(facts.memberOf).toEqual(expect.arrayContaining(['rds_iam', group]));
    } finally {
      await local.stop();
    }
    const c = await superClient();
    try {
      expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await c.end();
    }
  }, 60_000);
});
