import { Client, type ClientConfig } from 'pg';
import { logger } from '../core/logger';
import { ADVISORY_KEY_STRANGERS, ADVISORY_XACT_LOCK, BACKEND_PID, END_BLOCKING_SESSIONS, TRY_ADVISORY_XACT_LOCK } from './queries';

/**
 * The admin never waits behind a session that is not its own. Every lock this project takes
 * can also be taken by any login (advisory keys are predictable, tables the leaver owns are
 * readable, a user may rewrite its own pg_authid row with ALTER ROLE ... PASSWORD), so locks
 * alone cannot keep a hostile login from holding up an offboarding. Instead, while an admin
 * transaction has run longer than WATCH_AFTER_MS, a second admin connection asks
 * pg_blocking_pids what it waits behind and ends those sessions, unless they are the admin's
 * own (other executions: waited for, bounded by lock_timeout) or a superuser's.
 */

/** A session the admin ended because an admin statement waited behind it: the audit trail names each. */
export interface EndedSession {
  pid: number;
  user: string;
  reason: string;
}

interface Watched {
  config: ClientConfig;
  pid: number;
  ended: EndedSession[];
  /** No watcher is opened before this time (ms since the epoch). */
  quietUntil: number;
}

/** A transaction that takes longer than this gets a watcher (most take a few milliseconds). */
export const WATCH_AFTER_MS = 250;
/** A wait known to be for the admin's own executions only (under load, the usual wait) is watched after this. */
export const ADMIN_WAIT_QUIET_MS = 2_000;
const POLL_MS = 100;

/** Watchers opened, apart from connectionStats.opened: they exist only while something waits. */
export const watchdogStats = { opened: 0 };

const watched = new WeakMap<Client, Watched>();

/** Makes an admin connection watchable; `config` is how a second connection to the same database is opened. */
export const watchAdminSession = async (client: Client, config: ClientConfig): Promise<void> => {
  const pid = (await client.query<{ pid: number }>(BACKEND_PID)).rows[0].pid;
  watched.set(client, { config, pid, ended: [], quietUntil: 0 });
};

/** The sessions ended so far for statements of this connection. */
export const sessionsEndedOn = (client: Client): EndedSession[] => [...(watched.get(client)?.ended ?? [])];

/** Resolves after `ms`, or as soon as `until` settles. */
const pause = (ms: number, until: Promise<unknown>): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const stop = (): void => {
      clearTimeout(timer);
      resolve();
    };
    until.then(stop, stop);
  });

interface Blocker {
  pid: number;
  user: string;
  waited_for: string | null;
  statement: string | null;
  ended: boolean;
}

const watch = async (session: Watched, work: Promise<unknown>, finished: () => boolean): Promise<void> => {
  // quietUntil may move while we sleep (lockProjectKey).
  for (let left = session.quietUntil - Date.now(); left > 0; left = session.quietUntil - Date.now()) {
    await pause(left, work);
    if (finished()) return;
  }
  if (finished()) return;
  const watcher = new Client(session.config);
  watcher.on('error', () => undefined);
  try {
    await watcher.connect();
    watchdogStats.opened++;
    while (!finished()) {
      const { rows } = await watcher.query<Blocker>(END_BLOCKING_SESSIONS, [session.pid]);
      for (const b of rows) {
        if (!b.ended || session.ended.some((e) => e.pid === b.pid)) continue;
        const ended = {
          pid: b.pid,
          user: b.user,
          reason: `the admin's session ${session.pid} waited behind it for ${b.waited_for ?? 'a lock'} in: ${b.statement ?? '(statement not visible)'}`,
        };
        session.ended.push(ended);
        logger.warn('ended a session that blocked the admin', { endedSession: ended });
      }
      await pause(POLL_MS, work);
    }
  } catch (e) {
    // Without a watcher the transaction still ends by its lock_timeout, and the step is retried.
    logger.warn('watchdog stopped; the transaction waits with its lock_timeout only', { error: (e as Error).message });
  } finally {
    await watcher.end().catch(() => undefined);
  }
};

/** Runs `work` (one transaction on `client`) with a watcher that ends non-admin sessions it waits behind. */
export const whileWatched = async <T>(client: Client, work: () => Promise<T>): Promise<T> => {
  const session = watched.get(client);
  if (!session) return work();
  session.quietUntil = Date.now() + WATCH_AFTER_MS;
  let done = false;
  const running = work().finally(() => {
    done = true;
  });
  const watcher = watch(session, running, () => done);
  try {
    return await running;
  } finally {
    await watcher;
  }
};

/**
 * Takes a project advisory key for the rest of the transaction. Held by the admin's other
 * executions only, the wait is theirs to end and the watcher looks later; held or awaited by
 * anyone else, the watcher ends them after WATCH_AFTER_MS as for any other lock.
 */
export const lockProjectKey = async (client: Client, key: string): Promise<void> => {
  if ((await client.query<{ ok: boolean }>(TRY_ADVISORY_XACT_LOCK, [key])).rows[0].ok) return;
  const session = watched.get(client);
  const strangers = (await client.query<{ n: number }>(ADVISORY_KEY_STRANGERS, [key])).rows[0].n;
  if (session && strangers === 0) session.quietUntil = Math.max(session.quietUntil, Date.now() + ADMIN_WAIT_QUIET_MS);
  try {
    await client.query(ADVISORY_XACT_LOCK, [key]);
  } finally {
    if (session) session.quietUntil = Math.min(session.quietUntil, Date.now() + WATCH_AFTER_MS);
  }
};
