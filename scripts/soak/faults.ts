import pg, { escapeIdentifier } from 'pg';
import type { EmbeddedLocalPostgres } from '../../dev/embedded-postgres';
import type { SimulatedIam } from '../../dev/simulated-aws';
import { between, type Random, type Squat } from './plan';
import { lockKey } from '../../functions/lib/postgres/roles';

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
/** The admin's lock_timeout (connection.ts) is 10 s; every squat is meant to last longer. */
export const SQUAT_MS: Record<Squat, number> = { 'table-lock': 15_000, 'advisory-key': 15_000, 'admin-key': 12_000 };

export interface FaultCounts {
  killRounds: number;
  sessionsEnded: number;
  restarts: number[];
  locks: Record<Squat, { held: number; endedByAdmin: number; endedByRestart: number }>;
  iam: { throttled: number; concurrentModifications: number } | undefined;
}

export const newFaultCounts = (): FaultCounts => ({
  killRounds: 0,
  sessionsEnded: 0,
  restarts: [],
  locks: {
    'table-lock': { held: 0, endedByAdmin: 0, endedByRestart: 0 },
    'advisory-key': { held: 0, endedByAdmin: 0, endedByRestart: 0 },
    'admin-key': { held: 0, endedByAdmin: 0, endedByRestart: 0 },
  },
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
export const startInjector = (
  server: EmbeddedLocalPostgres,
  counts: FaultCounts,
  random: Random,
  opts: { killEveryMs: [number, number]; restarts: number; windowMs: number },
): Injector => {
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

/**
 * Takes a lock the offboarding of `dbUser` must wait for and holds it for SQUAT_MS, unless its session is
 * ended first. Resolves once the lock is held; `released` when it is gone.
 * - table-lock: the squatter (an unprivileged login with UPDATE on the seed table) holds ACCESS EXCLUSIVE
 *   on it: REASSIGN OWNED waits, and the admin's watchdog must end the squatter.
 * - advisory-key: the squatter holds the project's key for the role, which every offboarding step takes.
 * - admin-key: a session of the admin itself (a frozen execution's) holds that key: the watchdog leaves it
 *   alone, so the step runs into lock_timeout (lock_not_available) and must be retried.
 */
export const squat = async (
  server: EmbeddedLocalPostgres,
  kind: Squat,
  dbUser: string,
  table: { database: string; name: string },
  counts: FaultCounts,
  restarting: () => boolean,
): Promise<{ released: Promise<void> }> => {
  const database = kind === 'table-lock' ? table.database : 'postgres';
  const url =
    kind === 'admin-key' ? server.url(server.masterUser, database) : `postgres://${SQUATTER}:${SQUATTER_PASSWORD}@${server.host}:${server.port}/${database}`;
  const c = new pg.Client({ connectionString: url, application_name: `soak-${kind}` });
  let endedBy: 'admin' | 'restart' | undefined;
  const endedEarly = new Promise<void>((resolve) =>
    c.on('error', () => {
      endedBy ??= restarting() ? 'restart' : 'admin';
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
    await Promise.race([sleep(SQUAT_MS[kind]), endedEarly]);
    if (endedBy === 'admin') counts.locks[kind].endedByAdmin++;
    if (endedBy === 'restart') counts.locks[kind].endedByRestart++;
    await c.end().catch(() => undefined);
  })();
  return { released };
};

/**
 * IAM throttling and ConcurrentModification: the ONE PLACE they are switched on. The knobs are the
 * simulation's fault options (dev/simulated-aws.ts `configure`, branch `sim`, issue 11 item 7); until
 * they are on main this finds no `configure` and the report says IAM faults were off. Once they are,
 * replace the feature test with a plain `iam.configure(...)`.
 */
export interface IamFaultRates {
  /** Mutating calls per second for the account (0: not throttled). */
  writesPerSecond: number;
  /** Reads per second (0: not throttled). */
  readsPerSecond: number;
  /** Share of mutating calls refused with ConcurrentModificationException. */
  conflictRate: number;
}

interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

interface IamFaultKnobs {
  configure: (options: { throttle?: RateLimit; readThrottle?: RateLimit; concurrentModificationRate: number; seed: number }) => unknown;
  stats: { throttled: number; readThrottled: number; concurrentModifications: number };
}

const bucket = (perSecond: number): RateLimit | undefined => (perSecond > 0 ? { ratePerSecond: perSecond, burst: perSecond } : undefined);

export const switchOnIamFaults = (iam: SimulatedIam, rates: IamFaultRates, seed: number): (() => FaultCounts['iam']) | undefined => {
  const knobs = iam as unknown as Partial<IamFaultKnobs>;
  if (typeof knobs.configure !== 'function' || !knobs.stats) return undefined;
  knobs.configure({
    throttle: bucket(rates.writesPerSecond),
    readThrottle: bucket(rates.readsPerSecond),
    concurrentModificationRate: rates.conflictRate,
    seed,
  });
  const stats = knobs.stats;
  return () => ({ throttled: stats.throttled + stats.readThrottled, concurrentModifications: stats.concurrentModifications });
};
