/**
 * What `npm start` says when it cannot start, or starts with something missing: a port in use is found before
 * PostgreSQL starts and names PORT; DATABASE_URL errors name the variable and what was tried (never the password);
 * a database the targets allow (the README session's `app`) that the server lacks is reported at start.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/embedded-postgres';
import { startLocalMode } from '../../dev/local-mode';
import { testPg, uniqueName } from '../support/pg';

const ROOT = resolve(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'local-start-errors-'));
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => busy.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const targetsFile = (allowedDatabases: string[]): string => {
  const f = join(dir, `${uniqueName('targets')}.json`);
  writeFileSync(
    f,
    JSON.stringify({
      targets: {
        ext: {
          kind: 'instance',
          identifier: 'ext-db',
          region: 'eu-west-1',
          accountId: '123456789012',
          allowedDbRoles: [],
          allowedDatabases,
          admin: { method: 'secret', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:local-AbCdEf' },
          successorRole: 'data_owner',
          tls: 'disable',
        },
      },
    }),
  );
  return f;
};
const EXAMPLE = join(ROOT, 'config/targets.local.json');

describe('PORT in use', () => {
  it('is refused before PostgreSQL starts, naming PORT and how to set it', async () => {
    // Were the server started first, this TMPDIR (missing) would fail it with ENOENT instead.
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = join(dir, 'missing');
    try {
      await expect(startLocalMode({ targetsFile: EXAMPLE, port: busyPort, waitMs: 10, archiveDir: join(dir, 'archive') })).rejects.toThrow(
        new RegExp(
          `^PORT=${busyPort}: 127\\.0\\.0\\.1:${busyPort} is already in use \\(another npm start\\?\\); ` +
            `set PORT to a free port, e.g\\. PORT=${busyPort + 1} npm start$`,
        ),
      );
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it('npm start exits 1 with that one message, without starting PostgreSQL', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(busyPort), LOCAL_ARCHIVE_DIR: join(dir, 'archive') };
    for (const k of ['TARGETS_FILE', 'TARGETS_CONFIG', 'DATABASE_URL']) delete env[k];
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((done) => child.once('close', done));
    expect(code, output).toBe(1);
    expect(output).toContain(`local mode failed to start: PORT=${busyPort}: 127.0.0.1:${busyPort} is already in use`);
    expect(output).not.toMatch(/^PostgreSQL: /m);
  }, 60_000);

  it.each([
    [
      'a port this user may not listen on (below 1024 without privileges)',
      'EACCES',
      /^PORT=80: this user may not listen on 127\.0\.0\.1:80 \(ports below 1024 need privileges\); set PORT to a port from 1024 to 65535/,
    ],
    ['a port in use', 'EADDRINUSE', /^PORT=80: 127\.0\.0\.1:80 is already in use/],
  ])('explains %s', async (_, code, message) => {
    const { portError } = await import('../../dev/port-check');
    expect(portError(Object.assign(new Error('x'), { code }), 80).message).toMatch(message);
  });
});

describe('DATABASE_URL errors name the variable and what was tried, never the password', () => {
  const start = (databaseUrl: string) => startLocalMode({ targetsFile: targetsFile([]), port: 0, databaseUrl, waitMs: 10, archiveDir: join(dir, 'archive') });

  it('not a URL: says what is expected, without echoing the value', async () => {
    const err = await start('host=127.0.0.1 password=s3cret-value').catch((e: Error) => e);
    expect((err as Error).message).toBe('DATABASE_URL is not a URL: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://...)');
  });

  it('another scheme: names it', async () => {
    await expect(start('mysql://u:s3cret-value@127.0.0.1/db')).rejects.toThrow(/^DATABASE_URL has the scheme "mysql:": expected postgres:\/\//);
  });

  it('no user: says that user acts as the master user', async () => {
    await expect(start('postgres://127.0.0.1:5432/postgres')).rejects.toThrow(/^DATABASE_URL names no user \(host 127\.0\.0\.1\).*acts as the master user$/);
  });

  it('a wrong password: host, port, user and database tried, and why (SQLSTATE 28P01)', async () => {
    const pg = testPg();
    const err = (await start(`postgres://${pg.superUser}:wrong-s3cret@127.0.0.1:${pg.port}/postgres`).catch((e: Error) => e)) as Error;
    expect(err.message).toBe(
      `DATABASE_URL: cannot connect to PostgreSQL (tried host 127.0.0.1, port ${pg.port}, ` +
        `user "${pg.superUser}", database "postgres"): password authentication failed: ` +
        `check the user and password`,
    );
    expect(err.message).not.toContain('wrong-s3cret');
  });

  it('nothing listening: connection refused, with what was tried', async () => {
    const port = await freePort();
    await expect(start(`postgresql://admin:s3cret@127.0.0.1:${port}/postgres`)).rejects.toThrow(
      `DATABASE_URL: cannot connect to PostgreSQL (tried host 127.0.0.1, port ${port}, user "admin", ` +
        `database "postgres"): connection refused: is PostgreSQL running and listening there?`,
    );
  });
});

describe('a database the targets allow but the server lacks', () => {
  it('is reported at start (the README session needs "app"), naming the target, the file and the fix', async () => {
    const pg = testPg();
    const missing = uniqueName('nodb');
    const file = targetsFile(['app', missing]);
    const local = await startLocalMode({
      targetsFile: file,
      port: 0,
      databaseUrl: `postgres://${pg.superUser}:${encodeURIComponent(pg.superPassword)}@127.0.0.1:${pg.port}/postgres`,
      waitMs: 10,
      archiveDir: join(dir, 'archive'),
    });
    try {
      expect(local.notices).toEqual([
        `database "${missing}" (in allowedDatabases of target "ext") does not exist on DATABASE_URL (host ` +
          `127.0.0.1, port ${pg.port}, user "${pg.superUser}", database "postgres"): ` +
          `requests naming it will fail; create it (CREATE DATABASE "${missing}") or remove it from ${file}`,
      ]);
    } finally {
      await local.stop();
    }
  }, 60_000);
});
