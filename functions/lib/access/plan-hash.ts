import { createHash } from 'node:crypto';
import type { RequestPlan } from '../workflows/request-plan';
import type { GrantPlan } from './lifecycle';

/**
 * What an approval attests to, from the plan the planners made (request-plan.ts, the dry run's): the target and the
 * resource id its connect statement would name (a database replaced under the same identifier is another plan), the
 * database user, its roles and databases, the principal, and for how long.
 */
export const grantPlanOf = (
  plan: Pick<RequestPlan, 'target' | 'dbUser'>,
  request: { principalArn: string; dbRoles: readonly string[]; databases: readonly string[]; durationMs: number },
): GrantPlan => ({
  target: plan.target.name,
  resourceId: plan.target.resourceId,
  dbUser: plan.dbUser,
  dbRoles: [...new Set(request.dbRoles)].sort(),
  databases: [...new Set(request.databases)].sort(),
  principalArn: request.principalArn,
  durationSeconds: Math.round(request.durationMs / 1000),
});

/** sha256 over the plan's fields in a fixed order (JSON of an array: no key order to disagree on), hex. */
export const planHashOf = (p: GrantPlan): string =>
  `sha256:${createHash('sha256')
    .update(JSON.stringify(['rds-iam-access/grant-plan/v1', p.target, p.resourceId, p.dbUser, p.dbRoles, p.databases, p.principalArn, p.durationSeconds]))
    .digest('hex')}`;
