/**
 * Local mode as a user runs it: `npm start` in a child process on a free port, driven over HTTP
 * (onboard -> status -> dry run -> revoke), with PostgreSQL checked directly through the
 * connection string it prints, and stopped with Ctrl-C (SIGINT to its process group).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/embedded-postgres';
import { nodeVersionNotice } from '../../dev/node-version';

const ROOT = resolve(__dirname, '../..');
const ALICE = 'arn:aws:sts::123456789012:assumed-role/alice/alice-laptop';
const ALICE_ROLE = 'arn:aws:iam::123456789012:role/alice';

let child: ChildProcess;
let output = '';
let apiUrl: string;
let postgresUrl: string;
let archiveDir: string;
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

const api = async (method: string, path: string, body?: object, caller: string | null = ALICE): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(caller ? { 'x-caller-arn': caller } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const until = async (requestId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/requests/${requestId}`);
    expect(r.status).toBe(200);
    if (r.body.status !== 'RUNNING') return r.body;
    if (Date.now() > deadline) throw new Error(`${requestId} still RUNNING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

const sql = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => {
  const c = new pg.Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
};

const portOpen = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });

beforeAll(async () => {
  const port = await freePort();
  archiveDir = mkdtempSync(join(tmpdir(), 'local-archive-'));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOCAL_WAIT_MS: '200', LOCAL_ARCHIVE_DIR: archiveDir };
  for (const k of ['TARGETS_FILE', 'TARGETS_CONFIG', 'DATABASE_URL', 'GRANT_LOCK_TABLE']) delete env[k];
  // Its own process group, like a terminal's foreground job: Ctrl-C reaches every process in it.
  child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  // 'close', not 'exit': npm may end before the local mode it ran has written its last lines.
  exited = new Promise((done) => child.once('close', (code, signal) => done({ code, signal })));
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 100_000;
  while (!output.includes('Ready.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  apiUrl = /^API: (\S+)$/m.exec(output)?.[1] ?? '';
  postgresUrl = /^PostgreSQL: (\S+)$/m.exec(output)?.[1] ?? '';
}, 120_000);

afterAll(async () => {
  if (archiveDir) rmSync(archiveDir, { recursive: true, force: true });
  // Only when a test failed before Ctrl-C: nothing may outlive the test run.
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
});

describe('npm start (local mode)', () => {
  it('prints the API URL on 127.0.0.1:$PORT and the PostgreSQL connection string when ready', () => {
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(postgresUrl).toMatch(/^postgres:\/\/[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    expect(output).toContain('x-caller-arn');
    // On this machine's Node.js: the one-line notice exactly when the version is not supported.
    const notice = nodeVersionNotice();
    if (notice) expect(output).toContain(notice);
    else expect(output).not.toContain('is not supported');
  });

  it('onboards through the API: 202, status until SUCCEEDED, and the user really exists in PostgreSQL', async () => {
    const body = { requestId: 'LOCAL-1', principalArn: ALICE_ROLE, target: 'local', dbRoles: ['app_read'], databases: ['app'], reason: 'e2e' };
    const started = await api('POST', '/access-requests', body);
    expect(started.status).toBe(202);
    // alice asks for herself: her id is put in her own namespace (self-<digest>-LOCAL-1).
    const id = started.body.requestId as string;
    expect(id).toMatch(/^self-[0-9a-f]{16}-LOCAL-1$/);
    expect(started.body).toMatchObject({ status: 'RUNNING', location: `/requests/${id}` });

    const done = await until(id);
    expect(done.status, JSON.stringify(done.error)).toBe('SUCCEEDED');
    expect(done.input).toMatchObject({ requestedBy: ALICE, dbUser: 'alice' });
    expect(done.output).toMatchObject({ dbUserOutcome: 'created', policyOutcome: 'added' });

    const [role] = await sql<{ rolcanlogin: boolean; member_of: string[] }>(
      `SELECT rolcanlogin, ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = ` +
        `m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of FROM pg_roles r WHERE rolname = 'alice'`,
    );
    expect(role).toEqual({ rolcanlogin: true, member_of: ['app_read', 'rds_iam', 'rds_iam_access_managed'] });
    const [connect] = await sql<{ ok: boolean }>(`SELECT has_database_privilege('alice', 'app', 'CONNECT') AS ok`);
    expect(connect.ok).toBe(true);

    // A retrying client: same request id, nothing new.
    expect((await api('POST', '/access-requests', body)).status).toBe(200);

    // The audit trail: every step, and the archive written to the local folder when the run ended.
    const trail = await api('GET', `/audit/${id}`, undefined, 'arn:aws:sts::123456789012:assumed-role/platform-admin/auditing');
    expect(trail.status).toBe(200);
    expect((trail.body.steps as Array<{ name: string }>).map((s) => s.name)).toContain('CreateDbUser');
    // One document per run of the id (keyed by its start and end), so a later run under the same id never replaces it.
    const archived = join(
      archiveDir,
      'rds-iam-access-local-archive',
      'executions',
      'onboarding',
      id,
      `${done.startedAt as string}_${done.stoppedAt as string}.json`,
    );
    for (let i = 0; i < 50 && !existsSync(archived); i++) await new Promise((r) => setTimeout(r, 100));
    const document = readFileSync(archived, 'utf8');
    expect(JSON.parse(document)).toMatchObject({ schema: 'rds-iam-access/execution/v1', kind: 'onboarding', execution: { name: id, status: 'SUCCEEDED' } });
    expect(document).not.toContain('local-master-password');

    // The access review and the audit listing work locally too.
    const review = await api('GET', '/grants', undefined, 'arn:aws:sts::123456789012:assumed-role/platform-admin/auditing');
    expect(review.status).toBe(200);
    const users = (review.body.targets as Array<{ users: Array<{ dbUser: string; principals: Array<{ principalArn: string }>; flags: string[] }> }>)[0].users;
    expect(users.find((u) => u.dbUser === 'alice')).toMatchObject({ principals: [{ principalArn: ALICE_ROLE }], flags: [] });
    const listed = await api('GET', '/audit?dbUser=alice', undefined, 'arn:aws:sts::123456789012:assumed-role/platform-admin/auditing');
    expect((listed.body.items as Array<{ requestId: string }>).map((i) => i.requestId)).toEqual([id]);
  }, 90_000);

  it('refuses what the caller may not ask for, and unknown requests', async () => {
    expect(await api('POST', '/access-requests', { principalArn: 'arn:aws:iam::123456789012:role/bob', target: 'local' })).toMatchObject({
      status: 403,
      body: { error: 'NotAuthorized' },
    });
    expect(await api('POST', '/access-requests', { principalArn: ALICE_ROLE, target: 'local' }, null)).toMatchObject({
      status: 403,
      body: { error: 'NotAuthorized' },
    });
    expect(await api('GET', '/requests/NOPE')).toMatchObject({ status: 404, body: { error: 'RequestNotFound' } });
  });

  it('dry-runs the revocation without changing anything, then revokes: the user is gone', async () => {
    const plan = await api('POST', '/revocations?dryRun=true', { dbUser: 'alice', target: 'local' });
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({ dryRun: true, outcome: 'dropped', principals: [ALICE_ROLE] });
    expect(await sql(`SELECT 1 FROM pg_roles WHERE rolname = 'alice' AND rolcanlogin`)).toHaveLength(1);

    const revoked = await api('POST', '/revocations', { requestId: 'LOCAL-2', dbUser: 'alice', target: 'local' });
    expect(revoked.status).toBe(202);
    const done = await until(revoked.body.requestId as string);
    expect(done.status, JSON.stringify(done.error)).toBe('SUCCEEDED');
    expect(done.output).toMatchObject({ status: 'dropped' });
    expect(await sql(`SELECT 1 FROM pg_roles WHERE rolname = 'alice'`)).toHaveLength(0);

    // An identity-provider event, fed as EventBridge would: alice is in the mapped group (simulated identity store).
    const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/idp/identitycenter-console-add-member-to-group.json'), 'utf8')) as object;
    const res = await fetch(`${apiUrl}/local/events`, { method: 'POST', body: JSON.stringify(fixture) });
    expect(res.status).toBe(200);
    const outcome = (await res.json()) as { executions: Array<{ requestId: string; kind: string; dbUser: string }> };
    expect(outcome.executions.map((e) => [e.kind, e.dbUser])).toEqual([['onboarding', 'alice']]);
    expect((await until(outcome.executions[0].requestId)).status).toBe('SUCCEEDED');
    expect(await sql(`SELECT 1 FROM pg_roles WHERE rolname = 'alice' AND rolcanlogin`)).toHaveLength(1);
    const malformed = await fetch(`${apiUrl}/local/events`, { method: 'POST', body: JSON.stringify({ source: 'aws.iam', detail: {} }) });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'ValidationError', deadLetter: true });
  }, 90_000);

  it('stops cleanly on Ctrl-C: the local mode shuts down, npm exits, API and PostgreSQL are closed', async () => {
    const apiPort = Number(new URL(apiUrl).port);
    const pgPort = Number(new URL(postgresUrl).port);
    process.kill(-(child.pid as number), 'SIGINT');
    const result = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    expect(result, output).not.toBe('hung');
    // npm itself ends as an interrupted command does (by SIGINT); what runs under it reports a clean stop.
    expect([0, 130, null], output).toContain((result as { code: number | null }).code);
    expect(output).toMatch(/SIGINT: stopping[\s\S]*\nstopped\n/);
    // One Ctrl-C is one stop, though the process sees it from the terminal and from npm.
    expect(output).not.toContain('again');
    expect(await portOpen(apiPort)).toBe(false);
    expect(await portOpen(pgPort)).toBe(false);
  }, 40_000);
});
