import { targetAdmin } from './lib/admin-session';
import { ProvisioningError } from './lib/errors';
import { stepHandler } from './lib/logger';
import { type DbPlanAnswer, type DbPlanInvocation, type OffboardingSqlPlan, type OnboardingSqlPlan, planOffboardingSql, planOnboardingSql, reviewTargetDatabase } from './lib/plan/database';
import type { DatabaseReview } from './lib/review/database';
import { verifiedTarget, verifyOffboardState, verifyOnboardState } from './lib/step-input';

/**
 * Read-only database work for the API (in the VPC): the database half of dry runs and of the access review. Like
 * the steps it checks what it is given: the target (and so its admin secret) from this function's configuration,
 * the endpoint the admin connects to from RDS, the request validated again.
 */
export const handler = stepHandler('PlanDbUser', async (invocation: DbPlanInvocation): Promise<DbPlanAnswer<OnboardingSqlPlan | OffboardingSqlPlan | DatabaseReview | undefined>> => {
  try {
    switch (invocation.kind) {
      case 'onboarding': {
        const state = await verifyOnboardState(invocation.state);
        return { result: await planOnboardingSql(await targetAdmin(state.target, state.db, { readOnly: true }), state) };
      }
      case 'offboarding': {
        const state = await verifyOffboardState(invocation.state);
        return { result: await planOffboardingSql(await targetAdmin(state.target, state.db, { readOnly: true }), state) };
      }
      case 'review': {
        const { target, db } = await verifiedTarget(invocation.state);
        return { result: await reviewTargetDatabase(await targetAdmin(target, db, { readOnly: true }), { target }, invocation.dbUsers) };
      }
    }
  } catch (e) {
    if (e instanceof ProvisioningError) return { error: e.toJSON() };
    throw e;
  }
});
