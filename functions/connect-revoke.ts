import { withStepLease } from './lib/workflows/db-user-lease';
import { dbUserResourceArn } from './lib/core/arn';
import { grantDeps } from './lib/iam/deps';
import { findGrantHolders, removeConnectGrant } from './lib/iam/grants';
import { stepHandler } from './lib/core/logger';
import { verifyOffboardState } from './lib/workflows/step-input';
import type { OffboardState } from './lib/workflows/steps';

/** Remove the rds-db:connect statement for this RESOURCE_ID/DB_USER wherever this project put it. */
export const handler = stepHandler('RevokeConnect', async (input: OffboardState) => {
  const state = await verifyOffboardState(input);
  const { request, db } = state;
  const resourceArn = dbUserResourceArn({ ...db, dbUser: request.dbUser });
  const deps = grantDeps();
  return withStepLease(state, 'offboarding', false, async () => {
    const principals = request.principal ? [request.principal] : await findGrantHolders(deps.iam, resourceArn);
    const removals = [];
    for (const principal of principals) removals.push(await removeConnectGrant(deps, principal, resourceArn, request.requestId));
    return { resourceArn, principalsSearched: !request.principal, removals };
  });
});
