/**
 * Local mode's configuration: the targets file it refuses, and DATABASE_URL (an existing server
 * instead of the embedded one), run in-process against the test server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadLocalConfig, startLocalMode } from '../../dev/local-mode';
import { roleFacts, superClient, testPg, uniqueName } from '../support/pg';

const dir = mkdtempSync(join(tmpdir(), 'local-mode-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const target = (extra: object = {}) => ({
  kind: 'instance',
  identifier: 'ext-db',
  region: 'eu-west-1',
  accountId: '123456789012',
  allowedDbRoles: [],
  admin: { method: 'secret', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:local-AbCdEf' },
  successorRole: 'data_owner',
  tls: 'disable',
  ...extra,
});

const file = (config: object): string => {
  const f = join(dir, `${uniqueName('targets')}.json`);
  writeFileSync(f, JSON.stringify(config));
  return f;
};

describe('loadLocalConfig', () => {
  it.each([
    ['an IAM admin (tokens need RDS)', { targets: { a: target({ admin: { method: 'iam', user: 'iam_admin' } }) } }, /admin.method "secret" only/],
    ['TLS on (the local server has no RDS certificate)', { targets: { a: target({ tls: 'verify-full' }) } }, /"tls": "disable"/],
    ['two accounts (one simulated account)', { targets: { a: target(), b: target({ accountId: '210987654321' }) } }, /one AWS account/],
    ['no targets', { targets: {} }, /no targets/],
    ['an invalid file', { targets: { a: target({ kind: 'table' }) } }, /invalid targets configuration/],
  ])('refuses %s', (_, config, message) => {
    expect(() => loadLocalConfig(file(config))).toThrow(message);
  });

  it('accepts the example file for local mode', () => {
    const config = loadLocalConfig(join(__dirname, '../..', 'config/targets.local.json'));
    expect(Object.keys(config.targets)).toEqual(['local']);
  });
});

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
