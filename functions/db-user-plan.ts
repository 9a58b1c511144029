import { targetAdmin } from './lib/admin-session';
import { loadConfig, resolveTargetConfig } from './lib/config';
import { ProvisioningError } from './lib/errors';
import { stepHandler } from './lib/logger';
import { type DbPlanAnswer, type DbPlanInvocation, type OffboardingSqlPlan, type OnboardingSqlPlan, planOffboardingSql, planOnboardingSql } from './lib/plan/database';

/** Dry runs, the database half (in the VPC): what the database steps would execute, from a read-only transaction. */
export const handler = stepHandler('PlanDbUser', async (invocation: DbPlanInvocation): Promise<DbPlanAnswer<OnboardingSqlPlan | OffboardingSqlPlan | undefined>> => {
  try {
    // The target's settings (and so its admin secret) come from this function's own configuration.
    const target = resolveTargetConfig(loadConfig(), invocation.state.target.name);
    const { db } = invocation.state;
    if (db.identifier !== target.identifier || db.kind !== target.kind) {
      throw new ProvisioningError('ConfigurationError', `dry run for target "${target.name}" names ${db.kind} ${db.identifier}, not the configured ${target.kind} ${target.identifier}`);
    }
    const connect = await targetAdmin(target, db, { readOnly: true });
    return {
      result:
        invocation.kind === 'onboarding'
          ? await planOnboardingSql(connect, { ...invocation.state, target })
          : await planOffboardingSql(connect, { ...invocation.state, target }),
    };
  } catch (e) {
    if (e instanceof ProvisioningError) return { error: e.toJSON() };
    throw e;
  }
});
