/**
 * `npm run soak`: a bounded fault-injection run against local mode (the real API handler, the real
 * statemachines/*.asl.json and handlers, an embedded PostgreSQL of its own, AWS simulated in memory).
 * Hundreds of mixed requests (onboardings, offboardings, both of one user at once, replays, two
 * targets, two databases, three group roles) while the admin's sessions are ended every 1-2.5 s, the
 * server is restarted twice, an unprivileged login holds locks past the admin's lock_timeout, and (when
 * the simulation offers it) IAM throttles and refuses with ConcurrentModification. Then it counts
 * permanent failures, orphans and rows lost, each against its target, and exits non-zero if one is missed.
 *
 * Knobs (environment): SOAK_REQUESTS (300), SOAK_SEED (1), SOAK_WINDOW_S (40: requests start over this
 * many seconds), SOAK_BURST (15 stories start together), SOAK_KILL_EVERY_MS ("1000-2500"), SOAK_RESTARTS (2),
 * SOAK_IAM_WRITES_PER_S (25), SOAK_IAM_READS_PER_S (60), SOAK_IAM_CONFLICT_PERCENT (3) (0: off; only where the
 * simulation has fault knobs), SOAK_DEADLINE_S (280), SOAK_LOGS=1 (the handlers' JSON logs).
 */
import '../dev/polyfills';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg, { escapeIdentifier } from 'pg';
import { logger, requestIdOf } from '../functions/lib/core/logger';
import type { ExecutionRecord } from '../dev/asl-runner';
import { startLocalPostgres } from '../dev/embedded-postgres';
import { FUNCTIONS, type LocalFunction } from '../dev/functions';
import { CALLER_HEADER } from '../dev/http-api';
import { startLocalMode } from '../dev/local-mode';
import {
  type Access,
  checkRows,
  describeError,
  GIVE_TABLE,
  GRANT_TABLE,
  isProjectCode,
  isRetryableCode,
  type Orphan,
  orphansOf,
  readAccess,
  SEED_TABLE,
  type SeedTable,
  stateOf,
  transientEvidence,
} from './soak/checks';
import { createSquatter, type FaultCounts, newFaultCounts, soakSql, squat, SQUAT_MS, startInjector, SQUATTER, switchOnIamFaults } from './soak/faults';
import { seededRandom } from '../dev/sim-faults';
import { planStories, type Post, type Squat, type Story } from './soak/plan';

if (!process.env.SOAK_LOGS) logger.setLogLevel('SILENT');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// EMF metric lines are for CloudWatch Logs; here they would bury the report (POWERTOOLS_METRICS_DISABLED=false shows them).
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const TARGETS_FILE = resolve(__dirname, '..', 'config', 'targets.soak.json');
const CALLER = 'arn:aws:sts::123456789012:assumed-role/platform-admin/soak';
/** The second database of the targets file, created here as a DBA would (`app` comes with the embedded server). */
const EXTRA_DATABASE = 'sales';

// ---------------------------------------------------------------- knobs

const intKnob = (name: string, fallback: number, min: number, max: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}: "${raw}" is not allowed; use a whole number from ${min} to ${max}`);
  return n;
};

const rangeKnob = (name: string, fallback: [number, number]): [number, number] => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m || Number(m[1]) < 100 || Number(m[1]) > Number(m[2]))
    throw new Error(`${name}: "${raw}" is not allowed; use MIN-MAX in milliseconds, MIN at least 100 and not above MAX (e.g. 1000-2500)`);
  return [Number(m[1]), Number(m[2])];
};

const knobs = {
  requests: intKnob('SOAK_REQUESTS', 300, 1, 5000),
  seed: intKnob('SOAK_SEED', 1, 0, 2 ** 31 - 1),
  windowMs: intKnob('SOAK_WINDOW_S', 40, 1, 3600) * 1000,
  burst: intKnob('SOAK_BURST', 15, 1, 1000),
  killEveryMs: rangeKnob('SOAK_KILL_EVERY_MS', [1000, 2500]),
  restarts: intKnob('SOAK_RESTARTS', 2, 0, 20),
  deadlineMs: intKnob('SOAK_DEADLINE_S', 280, 10, 7200) * 1000,
  iam: {
    writesPerSecond: intKnob('SOAK_IAM_WRITES_PER_S', 25, 0, 10_000),
    readsPerSecond: intKnob('SOAK_IAM_READS_PER_S', 60, 0, 10_000),
    conflictRate: intKnob('SOAK_IAM_CONFLICT_PERCENT', 3, 0, 100) / 100,
  },
};

// ---------------------------------------------------------------- what the run saw

interface StepError {
  fn: string;
  requestId?: string;
  error: unknown;
}

/** The stack's functions, each error they throw recorded with its whole cause chain (Step Functions keeps only name and message). */
const observed = (log: StepError[]): Record<string, LocalFunction> =>
  Object.fromEntries(
    Object.entries(FUNCTIONS).map(([fn, f]) => [
      fn,
      {
        ...f,
        handler: async (input: never) => {
          try {
            return await f.handler(input);
          } catch (error) {
            log.push({ fn, requestId: requestIdOf(input), error });
            throw error;
          }
        },
      },
    ]),
  );

interface ApiAnswer {
  status: number;
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const count = <K extends string>(map: Record<string, number>, key: K, by = 1): void => {
  map[key] = (map[key] ?? 0) + by;
};
const byCount = (map: Record<string, number>): string =>
  Object.entries(map)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || '-';

async function main(): Promise<void> {
  const t0 = Date.now();
  const elapsed = (): string => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s`;
  const random = seededRandom(knobs.seed + 1);
  const server = await startLocalPostgres();
  const archiveDir = mkdtempSync(join(tmpdir(), 'soak-archive-'));
  const stepErrors: StepError[] = [];
  let exitCode = 0;
  try {
    await soakSql(server.url(server.masterUser), async (c) => {
      await c.query(`CREATE DATABASE ${escapeIdentifier(EXTRA_DATABASE)} OWNER ${escapeIdentifier(server.masterUser)}`);
      await c.query(`REVOKE CONNECT ON DATABASE ${escapeIdentifier(EXTRA_DATABASE)} FROM PUBLIC`);
    });
    await createSquatter(server, ['app', EXTRA_DATABASE]);
    const local = await startLocalMode({
      targetsFile: TARGETS_FILE,
      port: 0,
      databaseUrl: server.url(server.masterUser),
      waitMs: 200,
      archiveDir,
      functions: observed(stepErrors),
    });
    const faults: FaultCounts = newFaultCounts();
    const iamStats = switchOnIamFaults(local.aws.iam, knobs.iam, knobs.seed);
    const targets = Object.entries(local.config.targets).map(([name, t]) => ({
      name,
      accountId: t.accountId,
      dbRoles: t.allowedDbRoles,
      databases: t.allowedDatabases,
    }));
    const successor = Object.values(local.config.targets)[0].successorRole;
    const stories = planStories({ requests: knobs.requests, seed: knobs.seed, windowMs: knobs.windowMs, burst: knobs.burst, targets });
    const totalPosts = stories.reduce((n, s) => n + s.phases.reduce((m, p) => m + p.posts.reduce((k, q) => k + q.copies, 0), 0), 0);
    console.log(
      `soak: ${totalPosts} requests in ${stories.length} stories over ${knobs.windowMs / 1000} s, ` +
        `seed ${knobs.seed}; targets ${targets.map((t) => t.name).join(', ')}; ` +
        `databases app, ${EXTRA_DATABASE}`,
    );
    console.log(
      `faults: admin sessions ended every ${knobs.killEveryMs.join('-')} ms, ${knobs.restarts} server ` +
        `restarts, locks held ${SQUATTER} past lock_timeout, IAM ` +
        `throttling ${iamStats ? 'on' : 'OFF (the simulation has no fault knobs yet: branch sim)'}`,
    );

    // ------------------------------------------------------------ the run
    const seeds: SeedTable[] = [];
    const squats: Array<Promise<void>> = [];
    const apiAnswers: Record<string, number> = {};
    const notStarted: Array<{ requestId: string; answer: ApiAnswer }> = [];
    let doubleStarts = 0;
    let sent = 0;
    let storiesDone = 0;

    const send = async (path: string, body: Record<string, unknown>): Promise<ApiAnswer> => {
      // As a client would: a 503 or a dropped connection is tried again.
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${local.apiUrl}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', [CALLER_HEADER]: CALLER },
            body: JSON.stringify(body),
          });
          const answer = (await res.json()) as { error?: string };
          const a: ApiAnswer = { status: res.status, ...(answer.error ? { error: answer.error } : {}) };
          count(apiAnswers, `${a.status}${a.error ? ` ${a.error}` : ''}`);
          if (res.status !== 503 || attempt >= 10) return a;
        } catch (e) {
          count(apiAnswers, `network ${(e as Error).name}`);
          if (attempt >= 10) return { status: 0, error: (e as Error).message };
        }
        await sleep(500 * attempt);
      }
    };

    const machineOf = (p: Post): string => (p.kind === 'onboarding' ? 'onboard' : 'offboard');
    const ended = async (p: Post): Promise<ExecutionRecord | undefined> => {
      for (;;) {
        const r = local.runner.find(machineOf(p), p.requestId);
        if (r?.status !== 'RUNNING') return r;
        await sleep(100);
      }
    };

    const postAll = async (p: Post): Promise<ExecutionRecord | undefined> => {
      const path = p.kind === 'onboarding' ? '/access-requests' : '/revocations';
      sent += p.copies;
      const answers = await Promise.all(Array.from({ length: p.copies }, () => send(path, { ...p.body, requestId: p.requestId })));
      // One execution per request id: only one of the copies may answer "started" (202), the others are replays (200).
      if (answers.filter((a) => a.status === 202).length > 1) doubleStarts++;
      if (!answers.some((a) => a.status === 202 || a.status === 200)) {
        notStarted.push({ requestId: p.requestId, answer: answers[0] });
        return undefined;
      }
      return ended(p);
    };

    const seedTables = async (s: Story): Promise<SeedTable[]> => {
      const exists = await soakSql(
        server.url(server.superUser),
        async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolcanlogin', [s.user.dbUser])).rowCount === 1,
      );
      if (!exists) return [];
      const tables: SeedTable[] = [];
      for (const database of ['app', EXTRA_DATABASE]) {
        const t: SeedTable = { database, name: `seed_${s.user.dbUser}`, dbUser: s.user.dbUser, rows: 20 + Math.floor(random() * 80) };
        await soakSql(server.url(server.superUser, database), async (c) => {
          await c.query('BEGIN');
          const [create, insert] = SEED_TABLE(t.name);
          await c.query(create);
          await c.query(insert, [t.rows]);
          await c.query(GRANT_TABLE(t.name, SQUATTER));
          await c.query(GIVE_TABLE(t.name, t.dbUser));
          await c.query('COMMIT');
        });
        tables.push(t);
      }
      seeds.push(...tables);
      return tables;
    };

    const results = new Map<string, ExecutionRecord | undefined>();
    const runStory = async (s: Story): Promise<void> => {
      await sleep(Math.max(0, s.startAt - (Date.now() - t0)));
      for (const phase of s.phases) {
        const tables = phase.seed ? await seedTables(s) : [];
        if (phase.squat && tables.length > 0) {
          try {
            const held = await squat(server, phase.squat, s.user.dbUser, tables[0], faults, injector.restarting);
            squats.push(held.released);
          } catch {
            // The server was restarting: this lock was not taken.
          }
        }
        const records = await Promise.all(phase.posts.map((p) => postAll(p)));
        phase.posts.forEach((p, i) => {
          results.set(p.requestId, records[i]);
        });
      }
      storiesDone++;
    };

    const injector = startInjector(server, faults, random, { killEveryMs: knobs.killEveryMs, restarts: knobs.restarts, windowMs: knobs.windowMs });
    const progress = setInterval(() => {
      const running = [...local.runner.executions.values()].filter((r) => r.status === 'RUNNING').length;
      console.log(
        `[${elapsed()}] sent ${sent}/${totalPosts}, stories done ${storiesDone}/${stories.length}, ` +
          `executions running ${running}; faults: ${faults.sessionsEnded} sessions ended ` +
          `in ${faults.killRounds} rounds, ${faults.restarts.length} ` +
          `restarts, ${faults.locks['table-lock'].held + faults.locks['advisory-key'].held} locks held`,
      );
    }, 5_000);
    const all = Promise.all(stories.map(runStory));
    const finished = await Promise.race([all.then(() => true), sleep(knobs.deadlineMs).then(() => false)]);
    clearInterval(progress);
    await injector.stop();
    await Promise.all(squats);
    faults.iam = iamStats?.();
    const wallMs = Date.now() - t0;

    // ------------------------------------------------------------ the checks
    const targetOfResource = new Map(
      [...local.aws.rds.databases.values()].map((db) => [
        db.resourceId,
        Object.entries(local.config.targets).find(([, t]) => t.identifier === db.identifier && t.kind === db.kind)?.[0] ?? db.identifier,
      ]),
    );
    const clients = new Map<string, pg.Client>();
    const clientFor = async (database: string): Promise<pg.Client> => {
      let c = clients.get(database);
      if (!c) {
        c = new pg.Client({ connectionString: server.url(server.superUser, database), application_name: 'soak-checks' });
        await c.connect();
        clients.set(database, c);
      }
      return c;
    };
    const access: Access = await readAccess(await clientFor('postgres'), local.aws, targetOfResource);
    const outOfStep: Orphan[] = orphansOf(access);
    const orphans = outOfStep.filter((o) => o.kind !== 'grant to a blocked (NOLOGIN) user');
    const blockedGranted = outOfStep.filter((o) => o.kind === 'grant to a blocked (NOLOGIN) user');
    const rows = await checkRows(clientFor, seeds, successor);
    for (const c of clients.values()) await c.end();

    const executions = [...local.runner.executions.values()];
    const lastErrorOf = (requestId: string): StepError | undefined => stepErrors.filter((e) => e.requestId === requestId).at(-1);
    const permanent: Record<string, number> = {};
    const fromFaults: Record<string, number> = {};
    const withoutCode: Record<string, number> = {};
    const examples: string[] = [];
    for (const r of executions.filter((x) => x.status !== 'SUCCEEDED' && x.status !== 'RUNNING')) {
      const code = r.error ?? r.status;
      count(permanent, code);
      if (!isProjectCode(code)) count(withoutCode, code);
      const last = lastErrorOf(r.name);
      const evidence = isRetryableCode(code) ? code : last ? transientEvidence(last.error) : undefined;
      if (evidence) count(fromFaults, `${code} (${evidence})`);
      if (examples.length < 8)
        examples.push(`${r.name} ${code} at ${last?.fn ?? '?'}: ${last ? describeError(last.error).text : (r.cause ?? '').slice(0, 200)}`);
    }
    const seen: Record<string, number> = {};
    for (const e of stepErrors) {
      const { code, sqlstate } = describeError(e.error);
      count(seen, `${code}${sqlstate ? ` (${sqlstate})` : ''}${isProjectCode(code) ? '' : ' (no project code)'} in ${e.fn}`);
      if (!isProjectCode(code)) count(withoutCode, `${code} in ${e.fn} (retried or not)`);
    }
    const unfinished = executions.filter((r) => r.status === 'RUNNING').length + (finished ? 0 : stories.length - storiesDone);

    // A story whose requests ran one after another must end as its last request says; a race may end either way.
    const raceOutcomes: Record<string, number> = {};
    let wrongEndState = 0;
    const wrong: string[] = [];
    for (const s of stories) {
      const state = stateOf(access, s.user.dbUser);
      const last = s.phases.at(-1)?.posts ?? [];
      if (last.length > 1) {
        const outcome = last.map((p) => `${p.kind} ${results.get(p.requestId)?.status ?? 'not started'}`).join(' + ');
        count(raceOutcomes, `${state === 'present' ? 'user with grant' : state === 'absent' ? 'neither' : 'OUT OF STEP'} <- ${outcome}`);
        continue;
      }
      const r = results.get(last[0].requestId);
      if (r?.status !== 'SUCCEEDED') continue;
      const expected = last[0].kind === 'onboarding' ? 'present' : 'absent';
      if (state !== expected) {
        wrongEndState++;
        if (wrong.length < 5) wrong.push(`${s.user.dbUser}: ${state} after ${last[0].kind} ${last[0].requestId} SUCCEEDED`);
      }
    }

    // ------------------------------------------------------------ the report
    const failuresFromFaults = Object.values(fromFaults).reduce((a, b) => a + b, 0);
    const permanentTotal = Object.values(permanent).reduce((a, b) => a + b, 0);
    const noCode = Object.values(withoutCode).reduce((a, b) => a + b, 0);
    const rowsLost = rows.seeded - rows.present;
    const checks: Array<[string, number | string, boolean]> = [];
    const line = (label: string, value: string, target?: string, ok?: boolean): void => {
      console.log(`  ${label.padEnd(54)} ${value}${target !== undefined ? `   (target ${target}: ${ok ? 'ok' : 'MISSED'})` : ''}`);
      if (target !== undefined) checks.push([label, value, ok === true]);
    };
    const restartSeconds = faults.restarts.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ');
    console.log(`\nsoak report (seed ${knobs.seed})`);
    console.log('requests');
    line('requests sent (replays included)', `${sent} of ${totalPosts} planned; ${executions.length} executions`);
    line('API answers', byCount(apiAnswers));
    line(
      'not started (no 200/202)',
      `${notStarted.length}${
        notStarted.length
          ? `: ${notStarted
              .slice(0, 3)
              .map((n) => `${n.requestId} ${n.answer.status} ${n.answer.error ?? ''}`)
              .join('; ')}`
          : ''
      }`,
    );
    line('replays answered 202 (started) twice', String(doubleStarts), '0', doubleStarts === 0);
    console.log('faults injected');
    line('admin sessions terminated', `${faults.sessionsEnded} in ${faults.killRounds} rounds`);
    line('server restarts', `${faults.restarts.length}${restartSeconds ? ` (down ${restartSeconds})` : ''}`);
    for (const [kind, l] of Object.entries(faults.locks))
      line(
        `locks held for ${SQUAT_MS[kind as Squat] / 1000} s (lock_timeout 10 s): ${kind}`,
        `${l.held} (ended by the admin's watchdog ${l.endedByAdmin}, by a restart ${l.endedByRestart})`,
      );
    line(
      'IAM throttling / ConcurrentModification',
      faults.iam
        ? `${faults.iam.throttled} throttled, ${faults.iam.concurrentModifications} ConcurrentModification ` +
            `(writes ${knobs.iam.writesPerSecond}/s, reads ${knobs.iam.readsPerSecond}/s, ` +
            `conflicts ${knobs.iam.conflictRate * 100}%)`
        : 'off (no fault knobs in dev/simulated-aws.ts yet: branch sim)',
    );
    console.log('results');
    line('permanent failures', `${permanentTotal}: ${byCount(permanent)}`);
    line('  of them caused by transient faults', `${failuresFromFaults}${failuresFromFaults ? `: ${byCount(fromFaults)}` : ''}`, '0', failuresFromFaults === 0);
    line('errors without a project code', `${noCode}${noCode ? `: ${byCount(withoutCode)}` : ''}`, '0', noCode === 0);
    line(
      'orphans',
      `${orphans.length}${
        orphans.length
          ? `: ${orphans
              .slice(0, 5)
              .map((o) => `${o.kind} ${o.dbUser}${o.target ? ` (${o.target})` : ''}`)
              .join('; ')}`
          : ''
      }`,
      '0',
      orphans.length === 0,
    );
    line(
      'blocked users still granted (offboarding not finished)',
      `${blockedGranted.length}${
        blockedGranted.length
          ? `: ${blockedGranted
              .slice(0, 5)
              .map((o) => o.dbUser)
              .join(', ')}`
          : ''
      }`,
    );
    line('end state not what the last request says', `${wrongEndState}${wrong.length ? `: ${wrong.join('; ')}` : ''}`, '0', wrongEndState === 0);
    line('rows lost', `${rowsLost} of ${rows.seeded} seeded in ${rows.tables} tables (${rows.present} present)`, '0', rowsLost === 0);
    line(
      "leavers' tables not with the successor",
      `${rows.notWithSuccessor.length}${rows.notWithSuccessor.length ? `: ${rows.notWithSuccessor.slice(0, 3).join('; ')}` : ''}`,
      '0',
      rows.notWithSuccessor.length === 0,
    );
    line('unfinished at the deadline', String(unfinished), '0', unfinished === 0);
    line('wall time', `${(wallMs / 1000).toFixed(0)} s`, `< ${knobs.deadlineMs / 1000} s`, finished);
    console.log('same user onboarded and offboarded at once: end state <- outcomes');
    for (const [k, n] of Object.entries(raceOutcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(4)}  ${k}`);
    console.log('error codes seen (every failed step attempt, retried or not)');
    for (const [k, n] of Object.entries(seen).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(5)}  ${k}`);
    if (examples.length) {
      console.log('permanent failures (first 8)');
      for (const e of examples) console.log(`  ${e}`);
    }
    const missed = checks.filter(([, , ok]) => !ok);
    console.log(missed.length ? `\nMISSED ${missed.length} target(s): ${missed.map(([l]) => l.trim()).join(', ')}` : '\nevery target met');
    exitCode = missed.length ? 1 : 0;
    if (finished) await Promise.race([local.stop(), sleep(10_000)]);
  } finally {
    await server.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }
  // Executions still running past the deadline are abandoned with the process.
  process.exit(exitCode);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
