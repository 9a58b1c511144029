import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchdogStats } from '../../functions/lib/postgres/watchdog';
import { type ExecutionRecord, statePath } from '../../dev/asl-runner';
import { type EmbeddedLocalPostgres, startLocalPostgres } from '../../dev/embedded-postgres';
import { FUNCTIONS, type LocalFunction } from '../../dev/functions';
import { createSandbox } from '../../dev/sandbox';

/**
 * The database limiter (CreateDbUser through DbUserCreateQueue, docs/design.md "Connections and
 * concurrency"), through the real onboard.asl.json and handlers on a PostgreSQL server of this file's
 * own: pg_stat_activity then shows only this file's connections.
 */
let server: EmbeddedLocalPostgres;
beforeAll(async () => {
  server = await startLocalPostgres({ quiet: true });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

/** Samples the admin connections (application_name 'rds-iam-access') until stopped; returns the peak. */
const sampleAdminConnections = async (): Promise<{ stop: () => Promise<number> }> => {
  const observer = new pg.Client({ connectionString: server.url(server.superUser) });
  await observer.connect();
  let peak = 0;
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      const { rows } = await observer.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'rds-iam-access'`);
      peak = Math.max(peak, rows[0].n as number);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await loop;
      await observer.end();
      return peak;
    },
  };
};

const onboardAll = (sb: ReturnType<typeof createSandbox>, prefix: string, n: number): Promise<ExecutionRecord[]> =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      sb.runner.run('onboard', `${prefix}-${i}`, {
        requestId: `${prefix}-${i}`,
        principalArn: sb.aws.iam.addRole(`${prefix}Role${i}`),
        target: 'orders',
        dbRoles: ['app_read'],
        databases: ['app'],
      }),
    ),
  );

describe('database limiter: CreateDbUser waits in a queue for one of dbConcurrency slots', () => {
  it('many more onboardings than slots at once: none fails, none is throttled or retried, admin connections stay at the cap', async () => {
    const cap = 3;
    const total = 36;
    const sb = createSandbox({ pg: server, dbConcurrency: cap, waitMs: 1 });
    try {
      // The first onboarding on a fresh server creates the marker role; concurrent first ones race for it (42710,
      // retried). A server this project has already onboarded on is what a burst meets.
      expect((await onboardAll(sb, 'limiterFirst', 1))[0].status).toBe('SUCCEEDED');
      const invocationsBefore = Object.values(sb.runner.stats.invocations).reduce((a, b) => a + b, 0);
      const watchersBefore = watchdogStats.opened;
      const sampler = await sampleAdminConnections();
      const runs = await onboardAll(sb, 'limiterBurst', total);
      const peak = await sampler.stop();
      expect(runs.map((r) => `${r.status} ${r.error ?? ''}`.trim())).toEqual(runs.map(() => 'SUCCEEDED'));
      // The cost of an onboarding without contention: 6 states entered, none retried, 4 invocations.
      for (const r of runs) expect(statePath(r)).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'CreateDbUser', 'AllowConnect', 'Done']);
      // No state failed and was retried: a burst is no error (a failure that is caught would show in the status above).
      const failedAttempts = runs.flatMap((r) => r.events).filter((e) => e.type === 'StateFailed' || e.type === 'StateRetried') as unknown as Array<{
        type: string;
        state: { name: string };
        Error?: unknown;
        Cause?: unknown;
      }>;
      expect(failedAttempts.map((e) => `${e.type} ${e.state.name} ${String(e.Error)} ${String(e.Cause)}`)).toEqual([]);
      expect(Object.values(sb.runner.stats.throttles).reduce((a, b) => a + b, 0)).toBe(0);
      expect(Object.values(sb.runner.stats.invocations).reduce((a, b) => a + b, 0) - invocationsBefore).toBe(4 * total);
      const queue = sb.runner.queues.get('DbUserCreateQueue');
      // The burst really queued (more waited than there are slots), and every slot was used.
      expect(queue?.stats.peakBacklog).toBeGreaterThan(cap);
      expect(queue?.stats.peakInflight).toBe(cap);
      expect(sb.runner.stats.peakConcurrency.dbUserCreate).toBe(cap);
      // One admin connection per slot; a transaction slower than 250 ms adds its watchdog's while it runs
      // (functions/lib/postgres/watchdog.ts), at most one per slot.
      const watchers = watchdogStats.opened - watchersBefore;
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(cap + Math.min(cap, watchers));
    } finally {
      sb.restore();
    }
  }, 120_000);

  it('a slot holder that dies (its invocation hangs past the function timeout) frees its slot; ' +
    'its message is delivered again and its onboarding succeeds', async () => {
    const victim = 'limiterDead-0';
    let hung = 0;
    const dbUserCreate: LocalFunction = {
      ...FUNCTIONS.dbUserCreate,
      // The first delivery of the victim's message never returns, as an invocation frozen or killed mid-step.
      handler: (async (input: { request: { requestId: string } }) => {
        if (input.request.requestId === victim && hung++ === 0) return new Promise(() => undefined);
        return (FUNCTIONS.dbUserCreate.handler as (i: unknown) => Promise<unknown>)(input);
      }) as LocalFunction['handler'],
    };
    const sb = createSandbox({
      pg: server,
      dbConcurrency: 2,
      waitMs: 1,
      functions: { ...FUNCTIONS, dbUserCreate },
      queue: { functionTimeoutMs: 5_000, visibilityTimeoutMs: 8_000 },
    });
    try {
      const runs = await onboardAll(sb, 'limiterDead', 8);
      expect(runs.map((r) => `${r.status} ${r.error ?? ''}`.trim())).toEqual(runs.map(() => 'SUCCEEDED'));
      expect(hung).toBe(2);
      const queue = sb.runner.queues.get('DbUserCreateQueue');
      expect(queue?.stats.timeouts).toBe(1);
      expect(queue?.stats.redeliveries).toBe(1);
      // The other seven went through the freed slot while the victim's message was hidden: they ended first.
      const victimRun = runs[0];
      const others = runs.slice(1);
      expect(others.every((r) => (r.stopDate?.getTime() ?? Infinity) < (victimRun.stopDate?.getTime() ?? 0))).toBe(true);
      // The redelivery is not a retry of the state: the same 6 transitions.
      expect(statePath(victimRun)).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'CreateDbUser', 'AllowConnect', 'Done']);
      expect(victimRun.events.filter((e) => e.type === 'StateRetried')).toEqual([]);
      expect(sb.runner.stats.throttles.dbUserCreate ?? 0).toBe(0);
    } finally {
      sb.restore();
    }
  }, 120_000);
});
