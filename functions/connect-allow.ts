import { dbUserResourceArn, sessionTagConnectResource } from './lib/arn';
import { grantDeps } from './lib/iam/deps';
import { addConnectGrant } from './lib/iam/grants';
import { stepHandler } from './lib/logger';
import type { OnboardState } from './lib/steps';

/**
 * Step 5: let the principal connect as exactly this database user on exactly this resource. A
 * principal many people share gets the session-tag statement instead: each member connects only
 * as the database user its own tag names.
 */
export const handler = stepHandler('AllowConnect', async ({ request, db }: Pick<OnboardState, 'request' | 'db'>) =>
  addConnectGrant(
    grantDeps(),
    request.principal,
    request.sessionTagKey ? sessionTagConnectResource(db, request.sessionTagKey) : dbUserResourceArn({ ...db, dbUser: request.dbUser }),
    request.requestId,
    request.principalId,
  ),
);
