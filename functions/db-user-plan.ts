import { targetAdmin } from './lib/admin-session';
import { loadConfig, resolveTargetConfig } from './lib/config';
import { ProvisioningError } from './lib/errors';
import { stepHandler } from './lib/logger';
import { type DbPlanAnswer, type DbPlanInvocation, type OffboardingSqlPlan, type OnboardingSqlPlan, planOffboardingSql, planOnboardingSql, reviewTargetDatabase } from './lib/plan/database';
import type { DatabaseReview } from './lib/review/database';

/** Read-only database work for the API (in the VPC): the database half of dry runs and of the access review. */
export const handler = stepHandler('PlanDbUser', async (invocation: DbPlanInvocation): Promise<DbPlanAnswer<OnboardingSqlPlan | OffboardingSqlPlan | DatabaseReview | undefined>> => {
  try {
    // The target's settings (and so its admin secret) come from this function's own configuration.
    const target = resolveTargetConfig(loadConfig(), invocation.state.target.name);
    const { db } = invocation.state;
    if (db.identifier !== target.identifier || db.kind !== target.kind) {
      throw new ProvisioningError('ConfigurationError', `dry run for target "${target.name}" names ${db.kind} ${db.identifier}, not the configured ${target.kind} ${target.identifier}`);
    }
    const connect = await targetAdmin(target, db, { readOnly: true });
    switch (invocation.kind) {
      case 'onboarding':
        return { result: await planOnboardingSql(connect, { ...invocation.state, target }) };
      case 'offboarding':
        return { result: await planOffboardingSql(connect, { ...invocation.state, target }) };
      case 'review':
        return { result: await reviewTargetDatabase(connect, { target }, invocation.dbUsers) };
    }
  } catch (e) {
    if (e instanceof ProvisioningError) return { error: e.toJSON() };
    throw e;
  }
});
