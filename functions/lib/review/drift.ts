import type { AccessReview } from './access-review';

/** One thing the access review flagged: a database user or a grant that does not match what the project made. */
export interface DriftItem {
  target: string;
  /** user: a managed database user; grant: an rds-db:connect statement under the project's policy path. */
  subject: 'user' | 'grant';
  dbUser: string;
  principalArn?: string;
  policyArn?: string;
  flags: string[];
}

/** Every flagged user and grant of the review: drift is anything the review flags (README lists the flags). */
export const driftOf = (review: AccessReview): DriftItem[] =>
  review.targets.flatMap((t) => [
    ...t.users
      .filter((u) => u.flags.length)
      .map(
        (u): DriftItem => ({ target: t.target, subject: 'user', dbUser: u.dbUser, ...(u.createdFor ? { principalArn: u.createdFor } : {}), flags: u.flags }),
      ),
    ...t.grants
      .filter((g) => g.flags.length)
      .map(
        (g): DriftItem => ({
          target: t.target,
          subject: 'grant',
          dbUser: g.dbUser,
          ...(g.principalArn ? { principalArn: g.principalArn } : {}),
          policyArn: g.policyArn,
          flags: g.flags,
        }),
      ),
  ]);
