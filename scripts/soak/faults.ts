import pg, { escapeIdentifier } from 'pg';
import { lockKey } from '../../functions/lib/sql/onboard';
import type { EmbeddedLocalPostgres } from '../../local/embedded-postgres';
import type { SimulatedIam } from '../../local/simulated-aws';
import { between, type Random } from './plan';

/**
 * The faults the soak injects for real: the admin's sessions ended from a superuser connection,
 * the server restarted, a lock held past the admin's lock_timeout by an unprivileged login, and
 * IAM throttling and ConcurrentModification in the simulation.
 */

/**
 * The admin's backends (application_name of every admin connection, connection.ts), ended at once. Chosen
 * first (MATERIALIZED): in one WHERE the planner may call pg_terminate_backend before the other tests.
 */
export const END_ADMIN_SESSIONS = `
WITH admin AS MATERIALIZED (
  SELECT pid
    FROM pg_stat_activity
   WHERE application_name = 'rds-iam-access'
     AND backend_type = 'client backend'
     AND pid <> pg_backend_pid()
)
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended FROM admin`;

/** The login that holds locks: no privileges but those the soak grants it on seed tables. */
export const SQUATTER = 'soak_squatter';
const SQUATTER_PASSWORD = 'soak-squatter-password';
/** The admin's lock_timeout (connection.ts) is 10 s; the squatter holds longer. */
export const SQUAT_MS = 15_000;

export interface FaultCounts {
  killRounds: number;
  sessionsEnded: number;
  restarts: number[];
  locks: Record<'table-lock' | 'advisory-key', { held: number; endedEarly: number }>;
  iam: { throttled: number; concurrentModifications: number } | undefined;
}

export const newFaultCounts = (): FaultCounts => ({
  killRounds: 0,
  sessionsEnded: 0,
  restarts: [],
  locks: { 'table-lock': { held: 0, endedEarly: 0 }, 'advisory-key': { held: 0, endedEarly: 0 } },
  iam: undefined,
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Injector {
  /** Set while the server is down: the soak's own SQL waits for it. */
  restarting: () => boolean;
  stop: () => Promise<void>;
}

/**
 * Ends the admin's sessions every `killEveryMs` until stopped, and restarts the server `restarts`
 * times spread over `windowMs`.
 */
export const startInjector = (server: EmbeddedLocalPostgres, counts: FaultCounts, random: Random, opts: { killEveryMs: [number, number]; restarts: number; windowMs: number }): Injector => {
  let running = true;
  let down = false;
  const t0 = Date.now();
  const kills = (async () => {
    while (running) {
      await sleep(between(random, opts.killEveryMs[0], opts.killEveryMs[1]));
      if (!running || down) continue;
      const c = new pg.Client({ connectionString: server.url(server.superUser), application_name: 'soak-faults' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        const { rows } = await c.query<{ ended: number }>(END_ADMIN_SESSIONS);
        counts.killRounds++;
        counts.sessionsEnded += rows[0].ended;
      } catch {
        // The server went down under us (a restart): this round did not happen.
      } finally {
        await c.end().catch(() => undefined);
      }
    }
  })();
  const restarts = (async () => {
    for (let k = 1; k <= opts.restarts && running; k++) {
      const at = t0 + (opts.windowMs * k) / (opts.restarts + 1);
      while (running && Date.now() < at) await sleep(Math.min(200, at - Date.now()));
      if (!running) return;
      const started = Date.now();
      down = true;
      try {
        await server.restart(Math.round(between(random, 300, 1500)));
      } finally {
        down = false;
      }
      counts.restarts.push(Date.now() - started);
    }
  })();
  return {
    restarting: () => down,
    stop: async () => {
      running = false;
      await Promise.all([kills, restarts]);
    },
  };
};

/** The soak's own SQL (setup, seeding, checks): not the system under test, so retried through the faults. */
export const soakSql = async <T>(url: string, fn: (c: pg.Client) => Promise<T>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new pg.Client({ connectionString: url, application_name: 'soak' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return await fn(c);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(250);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
};

export const createSquatter = async (server: EmbeddedLocalPostgres, databases: string[]): Promise<void> =>
  soakSql(server.url(server.superUser), async (c) => {
    await c.query(`CREATE ROLE ${escapeIdentifier(SQUATTER)} LOGIN PASSWORD '${SQUATTER_PASSWORD}'`);
    for (const db of databases) await c.query(`GRANT CONNECT ON DATABASE ${escapeIdentifier(db)} TO ${escapeIdentifier(SQUATTER)}`);
  });

const squatterUrl = (server: EmbeddedLocalPostgres, database: string): string =>
  `postgres://${SQUATTER}:${SQUATTER_PASSWORD}@${server.host}:${server.port}/${database}`;

/**
 * Takes a lock the offboarding of `dbUser` must wait for and holds it for SQUAT_MS, unless its session
 * is ended first (the admin's watchdog, or a restart). Resolves once the lock is held; `released` when it is gone.
 * table-lock: ACCESS EXCLUSIVE on the user's seed table (REASSIGN OWNED waits); advisory-key: the
 * project's key for the role (every offboarding step takes it).
 */
export const squat = async (server: EmbeddedLocalPostgres, kind: 'table-lock' | 'advisory-key', dbUser: string, table: { database: string; name: string }, counts: FaultCounts): Promise<{ released: Promise<void> }> => {
  const c = new pg.Client({ connectionString: squatterUrl(server, kind === 'table-lock' ? table.database : 'postgres'), application_name: 'soak-squatter' });
  let ended = false;
  const endedEarly = new Promise<void>((resolve) =>
    c.on('error', () => {
      ended = true;
      resolve();
    }),
  );
  await c.connect();
  if (kind === 'table-lock') {
    await c.query('BEGIN');
    await c.query(`LOCK TABLE public.${escapeIdentifier(table.name)} IN ACCESS EXCLUSIVE MODE`);
  } else {
    await c.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey.role(dbUser)]);
  }
  counts.locks[kind].held++;
  const released = (async () => {
    await Promise.race([sleep(SQUAT_MS), endedEarly]);
    if (ended) counts.locks[kind].endedEarly++;
    await c.end().catch(() => undefined);
  })();
  return { released };
};

/**
 * IAM throttling and ConcurrentModification: the ONE PLACE they are switched on. The knobs are the
 * simulation's fault options (local/simulated-aws.ts `configure`, branch `sim`, issue 11 item 7); until
 * they are on main this finds no `configure` and the report says IAM faults were off. Once they are,
 * replace the feature test with a plain `iam.configure(IAM_FAULTS)`.
 */
export const IAM_FAULTS = {
  throttle: { ratePerSecond: 25, burst: 25 },
  readThrottle: { ratePerSecond: 60, burst: 60 },
  concurrentModificationRate: 0.03,
};

interface IamFaultKnobs {
  configure: (options: typeof IAM_FAULTS & { seed: number }) => unknown;
  stats: { throttled: number; readThrottled: number; concurrentModifications: number };
}

export const switchOnIamFaults = (iam: SimulatedIam, seed: number): (() => FaultCounts['iam']) | undefined => {
  const knobs = iam as unknown as Partial<IamFaultKnobs>;
  if (typeof knobs.configure !== 'function' || !knobs.stats) return undefined;
  knobs.configure({ ...IAM_FAULTS, seed });
  const stats = knobs.stats;
  return () => ({ throttled: stats.throttled + stats.readThrottled, concurrentModifications: stats.concurrentModifications });
};
