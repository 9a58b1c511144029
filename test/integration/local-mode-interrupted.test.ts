/**
 * Ctrl-C while a run is RUNNING: `npm start` lists it (request id, workflow, state reached) with how to finish
 * it, keeps it in the archive folder, and the next `npm start` on that folder lists it again as ABORTED; the
 * retry it names finishes the request. Local mode keeps executions in memory: without the file the retry would 404.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_FILE } from '../../dev/interrupted-runs';

const ROOT = resolve(__dirname, '../..');
const ALICE = 'arn:aws:sts::123456789012:assumed-role/alice/alice-laptop';
const AUDITOR = 'arn:aws:sts::123456789012:assumed-role/platform-admin/auditing';
const archiveDir = mkdtempSync(join(tmpdir(), 'local-interrupted-'));
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) {
    if (c.pid && c.exitCode === null && c.signalCode === null) {
      const closed = new Promise((done) => c.once('close', done));
      process.kill(-c.pid, 'SIGKILL');
      await closed;
    }
  }
  rmSync(archiveDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  apiUrl: string;
  output: () => string;
  stop: () => Promise<string>;
}

const npmStart = async (waitMs: number): Promise<Started> => {
  let output = '';
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', LOCAL_WAIT_MS: String(waitMs), LOCAL_ARCHIVE_DIR: archiveDir };
  for (const k of ['TARGETS_FILE', 'TARGETS_CONFIG', 'DATABASE_URL', 'GRANT_LOCK_TABLE']) delete env[k];
  const child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const closed = new Promise<void>((done) => child.once('close', () => done()));
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Ready.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    apiUrl: /^API: (\S+)$/m.exec(output)?.[1] ?? '',
    output: () => output,
    // One Ctrl-C to the process group, as a terminal sends it.
    stop: async () => {
      process.kill(-(child.pid as number), 'SIGINT');
      await closed;
      return output;
    },
  };
};

const call = async (
  apiUrl: string,
  method: string,
  path: string,
  body?: object,
  caller = ALICE,
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-caller-arn': caller },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('Ctrl-C with an execution RUNNING', () => {
  it('lists it with the state it reached and the retry to send; the next start lists it as ABORTED and the retry finishes it', async () => {
    // Each Wait state lasts a minute: the onboarding waits there for IAM authentication when Ctrl-C comes.
    const first = await npmStart(60_000);
    const started = await call(first.apiUrl, 'POST', '/access-requests', {
      requestId: 'CUT-1',
      principalArn: 'arn:aws:iam::123456789012:role/alice',
      target: 'local',
      dbRoles: ['app_read'],
      databases: ['app'],
    });
    expect(started.status).toBe(202);
    const id = started.body.requestId as string;
    let reached = '';
    for (let i = 0; i < 100 && !reached.startsWith('Wait'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const steps = ((await call(first.apiUrl, 'GET', `/audit/${id}`, undefined, AUDITOR)).body.steps ?? []) as Array<{ name: string }>;
      reached = steps.at(-1)?.name ?? '';
    }
    expect(reached).toMatch(/^Wait/);
    expect((await call(first.apiUrl, 'GET', `/requests/${id}`)).body.status).toBe('RUNNING');

    const stopping = Date.now();
    const stopped = await first.stop();
    // The run waits for another minute: the stop does not wait for it.
    expect(Date.now() - stopping).toBeLessThan(15_000);
    expect(stopped).toMatch(/SIGINT: stopping/);
    const listed = new RegExp(
      `^  ${id} \\(onboarding, execution ${id}, reached (\\w+), [0-9T:.-]+Z\\): POST /requests/${id}/retry as ${ALICE.replace(/[/.]/g, '\\$&')}$`,
      'm',
    ).exec(stopped);
    expect(listed, stopped).not.toBeNull();
    expect(stopped).toMatch(/^Interrupted: 1 execution\(s\) still RUNNING, kept in interrupted-executions\.json in the archive folder/m);
    expect(stopped).toMatch(/\nstopped\n/);
    expect(stopped).not.toContain('again');
    const file = join(archiveDir, INTERRUPTED_FILE);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      runs: Array<{ requestId: string; stateReached: string }>;
      executions: Array<{ name: string; status: string }>;
    };
    expect(saved.runs).toMatchObject([{ requestId: id, stateReached: (listed as RegExpExecArray)[1] }]);
    expect(saved.executions.map((e) => [e.name, e.status])).toEqual([[id, 'ABORTED']]);

    const second = await npmStart(200);
    expect(second.output()).toContain('Interrupted when local mode last stopped (ABORTED; every step is idempotent, a retry finishes each):');
    expect(second.output()).toContain(`  ${id} (onboarding, execution ${id}, reached ${(listed as RegExpExecArray)[1]}`);
    expect(second.output()).toContain(`: curl -X POST ${second.apiUrl}/requests/${id}/retry -H 'x-caller-arn: ${ALICE}'`);
    const before = await call(second.apiUrl, 'GET', `/requests/${id}`);
    expect(before.body).toMatchObject({
      status: 'ABORTED',
      error: { code: 'LocalModeStopped', message: `local mode stopped while this execution was in state ${(listed as RegExpExecArray)[1]}` },
    });

    const retried = await call(second.apiUrl, 'POST', `/requests/${id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    let status = '';
    for (let i = 0; i < 300 && status !== 'SUCCEEDED' && status !== 'FAILED'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await call(second.apiUrl, 'GET', `/requests/${id}`)).body.status as string;
    }
    expect(status).toBe('SUCCEEDED');

    // Finished: the next stop has nothing to list and removes the file.
    const stoppedAgain = (await second.stop()).split('SIGINT: stopping')[1];
    expect(stoppedAgain).toMatch(/^ \(API and PostgreSQL\)\.\.\.\nstopped\n$/);
    expect(existsSync(file)).toBe(false);
  }, 120_000);
});
