/**
 * The fault machinery of the AWS simulation (dev/simulated-aws.ts, dev/simulated-services.ts): a
 * token bucket, a seeded random source, a schedule of one-off faults, and list paging. Each is off
 * unless configured, so the simulation answers at once, consistently and in one page by default.
 */

/** A seeded PRNG (mulberry32): the same seed gives the same faults, so a failing run can be replayed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export interface RateLimit {
  /** Tokens added per second (the sustained rate). */
  ratePerSecond: number;
  /** Bucket size: how many calls may go at once after a quiet spell. */
  burst: number;
}

/** One bucket for the whole account, as AWS throttles per account and API family. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = limit.burst;
    this.last = now();
  }

  /** Takes a token if one is there; a refused call takes none (it never reached the service's work). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((t - this.last) / 1000) * this.limit.ratePerSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface ScheduledFault {
  error: () => Error;
  /** The call acts first and then fails (a reply lost on the way back), instead of failing untouched. */
  afterEffect: boolean;
}

/**
 * One-off faults for tests: `faults.next('DeletePolicyVersion', error)` fails the next call of that
 * command once (`times` for more), before it changes anything, or after with `afterEffect`.
 */
export class FaultSchedule {
  private readonly queued = new Map<string, ScheduledFault[]>();
  /** Faults fired so far, per command. */
  readonly fired: Record<string, number> = {};

  next(command: string, error: Error | (() => Error), opts: { times?: number; afterEffect?: boolean } = {}): this {
    const make = typeof error === 'function' ? error : () => error;
    const list = this.queued.get(command) ?? [];
    for (let i = 0; i < (opts.times ?? 1); i++) list.push({ error: make, afterEffect: opts.afterEffect ?? false });
    this.queued.set(command, list);
    return this;
  }

  /** The fault due for this call of `command`, if any (consumed). */
  take(command: string): ScheduledFault | undefined {
    const fault = this.queued.get(command)?.shift();
    if (fault) this.fired[command] = (this.fired[command] ?? 0) + 1;
    return fault;
  }

  /** Faults scheduled and not yet fired. */
  pending(): number {
    return [...this.queued.values()].reduce((n, l) => n + l.length, 0);
  }

  clear(): void {
    this.queued.clear();
  }
}

/**
 * One page of a list: at most `max` items (the caller's MaxItems, capped by the simulation's page
 * size) from where `token` says. The token is opaque to callers; a token the simulation did not
 * hand out is refused by `invalid`.
 */
export const pageOf = <T>(items: T[], token: string | undefined, max: number, invalid: () => Error): { items: T[]; next?: string } => {
  const from = token === undefined ? 0 : Number(/^page-(\d+)$/.exec(token)?.[1] ?? NaN);
  if (!Number.isInteger(from) || from > items.length) throw invalid();
  const size = Math.max(1, max);
  return { items: items.slice(from, from + size), ...(from + size < items.length ? { next: `page-${from + size}` } : {}) };
};

/** The $metadata every simulated answer carries. */
export const meta = { $metadata: {} };

/** Every simulated call yields to the event loop first, so concurrent callers interleave as against the real services. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
