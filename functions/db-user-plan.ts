import { targetAdmin } from './lib/postgres/admin-session';
import { ProvisioningError } from './lib/core/errors';
import { stepHandler } from './lib/core/logger';
import {
  checkRequestedDatabases,
  type DbPlanAnswer,
  type DbPlanInvocation,
  type OffboardingSqlPlan,
  type OnboardingSqlPlan,
  planOffboardingSql,
  planOnboardingSql,
  reviewTargetDatabase,
} from './lib/workflows/database-plan';
import type { DatabaseReview } from './lib/postgres/review';
import { verifiedTarget, verifyOffboardState, verifyOnboardState } from './lib/workflows/step-input';

/**
 * Read-only database work for the API (in the VPC): the database half of dry runs, of the access review and of a
 * request's acceptance (its databases exist). Like the steps it checks what it is given: the target (and so its admin
 * secret) from this function's configuration,
 * the endpoint the admin connects to from RDS, the request validated again.
 */
export const handler = stepHandler(
  'PlanDbUser',
  async (invocation: DbPlanInvocation): Promise<DbPlanAnswer<OnboardingSqlPlan | OffboardingSqlPlan | DatabaseReview | { existing: string[] } | undefined>> => {
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
        case 'databases': {
          const { target, db } = await verifiedTarget(invocation.state);
          const databases = Array.isArray(invocation.databases) ? invocation.databases.filter((d): d is string => typeof d === 'string') : [];
          return { result: await checkRequestedDatabases(await targetAdmin(target, db, { readOnly: true }), target, databases) };
        }
      }
    } catch (e) {
      if (e instanceof ProvisioningError) return { error: e.toJSON() };
      throw e;
    }
  },
);
