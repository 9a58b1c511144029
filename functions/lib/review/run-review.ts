import type { PrincipalArn } from '../core/arn';
import type { ResolvedTargetConfig } from '../core/config';
import { listGrantPolicies } from '../iam/grants';
import type { PlanDeps } from '../workflows/request-plan';
import { describeTarget } from '../rds/target';
import { type AccessReview, accessReview, grantsOnTarget, reviewTarget, type TargetReview } from './access-review';

/** What the review reads: RDS for each target, IAM for the project's policies, the database through dbUserPlan. */
export type ReviewDeps = Pick<PlanDeps, 'rds' | 'iam' | 'database'>;

/**
 * The access review, now, of the given targets: the project's policies read once, then per target its
 * RDS facts and its database. The API's GET /grants and the scheduled reconcile read it the same way.
 */
export const runAccessReview = async (
  deps: ReviewDeps,
  targets: ResolvedTargetConfig[],
  filter: AccessReview['filter'] = {},
  principal?: PrincipalArn,
  now = new Date(),
): Promise<AccessReview> => {
  const policies = await listGrantPolicies(deps.iam);
  const reviews: TargetReview[] = [];
  for (const target of targets) {
    const db = await describeTarget(deps.rds(target.region), target);
    const grants = grantsOnTarget(policies, db);
    const database = await deps.database.review({ target, db }, [...new Set(grants.map((g) => g.dbUser))].sort());
    reviews.push(reviewTarget(target, db, database, grants, principal));
  }
  return accessReview(reviews, filter, now);
};
