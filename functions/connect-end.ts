import { recordDepsFromEnv } from './lib/access/deps';
import { endSubject } from './lib/access/end-target';
import { dbUserResourceArn, parsePrincipalArn } from './lib/core/arn';
import { ProvisioningError } from './lib/core/errors';
import { stepHandler } from './lib/core/logger';
import { grantDeps } from './lib/iam/deps';
import { removeConnectGrant } from './lib/iam/grants';
import { simulateConnect } from './lib/iam/verify';

/**
 * EndInIam: the principal's rds-db:connect statement for the user removed when no other grant needs it, then IAM's
 * policy simulator asked whether the principal may still connect. A principal still allowed (IAM not yet consistent,
 * or a statement this project did not write) fails the step: retried, then END_FAILED and alarmed, never recorded as
 * ended. The database already refuses the login (NOLOGIN) whatever IAM says.
 */
export const handler = stepHandler('EndInIam', async (input: { requestId: string }) => {
  const { state, db } = await endSubject(recordDepsFromEnv(), input.requestId);
  const principal = parsePrincipalArn(state.principalArn);
  const resourceArn = dbUserResourceArn({ ...db, resourceId: state.resourceId, dbUser: state.dbUser });
  const deps = grantDeps();
  if (!state.plan.removeConnect) return { statementRemoved: false, keptFor: state.plan.keptFor, resourceArn };
  const removal = await removeConnectGrant(deps, principal, resourceArn, input.requestId);
  const check = await simulateConnect(deps.iam, principal, resourceArn);
  if (check.decision === 'allowed') {
    throw new ProvisioningError(
      'IamNotYetConsistent',
      `${principal.arn} may still rds-db:connect to ${resourceArn} after its statement was removed ` +
        `(allowed by policy ${check.allowedBy.join(', ') || 'unknown'}): IAM may not show the removal yet, ` +
        `or another policy grants it; the database refuses the login (NOLOGIN) either way`,
      { details: { allowedBy: check.allowedBy } },
    );
  }
  return { statementRemoved: removal.outcome === 'removed', removal, check, resourceArn };
});
