/**
 * What the soak sends: stories of one database user each (onboard then offboard, both at once,
 * onboard and stay, onboard then re-onboard and offboard at once), with replays, drawn from a seed so
 * a run can be repeated.
 */

import { seededRandom } from '../../dev/sim-faults';
export type Random = () => number;
export const between = (random: Random, min: number, max: number): number => min + random() * (max - min);
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)];
const someOf = <T>(random: Random, items: readonly T[]): T[] => items.filter(() => random() < 0.5);

export interface SoakUser {
  dbUser: string;
  principalArn: string;
  target: string;
}

export type RequestKind = 'onboarding' | 'offboarding';

/** One POST, sent `copies` times at once under the same request id (copies > 1: replays). */
export interface Post {
  kind: RequestKind;
  requestId: string;
  body: Record<string, unknown>;
  copies: number;
}

/**
 * Before a phase's POSTs: the user's seed tables are created, and a lock the offboarding needs may be
 * taken (see faults.ts: squat).
 */
export type Squat = 'table-lock' | 'advisory-key' | 'admin-key';

export interface Phase {
  seed?: boolean;
  squat?: Squat;
  /** Sent together; the next phase starts when all have ended. */
  posts: Post[];
}

export type StoryKind = 'lifecycle' | 'race' | 'stay' | 'rerace';

export interface Story {
  kind: StoryKind;
  user: SoakUser;
  /** When its first phase starts, in ms after the run began. */
  startAt: number;
  phases: Phase[];
}

export interface TargetShape {
  name: string;
  accountId: string;
  dbRoles: string[];
  databases: string[];
}

export interface PlanOptions {
  requests: number;
  seed: number;
  windowMs: number;
  /** Stories that start together: bursts keep the database functions at their concurrency cap while sessions are ended. */
  burst: number;
  targets: TargetShape[];
}

const postCount = (s: Story): number => s.phases.reduce((n, p) => n + p.posts.reduce((m, q) => m + q.copies, 0), 0);

/** Stories until `requests` POSTs (replays included), starting in bursts spread over the window. */
export const planStories = (opts: PlanOptions): Story[] => {
  const random = seededRandom(opts.seed);
  const stories: Story[] = [];
  let sent = 0;
  for (let i = 0; sent < opts.requests; i++) {
    const t = opts.targets[i % opts.targets.length];
    const name = `soak_u${String(i).padStart(3, '0')}`;
    const user: SoakUser = { dbUser: name, principalArn: `arn:aws:iam::${t.accountId}:role/${name.replace(/_/g, '-')}`, target: t.name };
    let n = 0;
    const id = (): string => `soak-${opts.seed}-${name}-${n++}`;
    const copies = (): number => (random() < 0.25 ? 2 + Math.floor(random() * 2) : 1);
    const onboard = (): Post => ({
      kind: 'onboarding',
      requestId: id(),
      body: {
        principalArn: user.principalArn,
        dbUser: user.dbUser,
        target: t.name,
        dbRoles: someOf(random, t.dbRoles),
        databases: someOf(random, t.databases),
        reason: 'soak',
      },
      copies: copies(),
    });
    // Without principalArn the offboarding finds the grants by listing the project's policies (races other writers).
    const offboard = (): Post => ({
      kind: 'offboarding',
      requestId: id(),
      body: { dbUser: user.dbUser, target: t.name, reason: 'soak', ...(random() < 0.5 ? { principalArn: user.principalArn } : {}) },
      copies: copies(),
    });
    const r = random();
    const kind: StoryKind = r < 0.45 ? 'lifecycle' : r < 0.7 ? 'race' : r < 0.9 ? 'stay' : 'rerace';
    const squat = (): Squat | undefined => {
      const s = random();
      return s < 0.2 ? 'table-lock' : s < 0.3 ? 'advisory-key' : s < 0.4 ? 'admin-key' : undefined;
    };
    const phases: Phase[] =
      kind === 'lifecycle'
        ? [{ posts: [onboard()] }, { seed: true, squat: squat(), posts: [offboard()] }]
        : kind === 'race'
          ? [{ posts: pick(random, [true, false]) ? [onboard(), offboard()] : [offboard(), onboard()] }]
          : kind === 'stay'
            ? [{ posts: [onboard()] }, ...(random() < 0.3 ? [{ posts: [onboard()] }] : [])]
            : [{ posts: [onboard()] }, { seed: true, posts: [onboard(), offboard()] }];
    stories.push({ kind, user, startAt: 0, phases });
    sent += postCount(stories[i]);
  }
  // Bursts evenly over the window, each spread over 200 ms.
  const bursts = Math.ceil(stories.length / opts.burst);
  stories.forEach((s, i) => {
    s.startAt = Math.round((Math.floor(i / opts.burst) * opts.windowMs) / bursts + between(random, 0, 200));
  });
  return stories.sort((a, b) => a.startAt - b.startAt);
};
