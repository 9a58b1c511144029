import { handler as accessReconcile } from '../functions/access-reconcile';
import { handler as api } from '../functions/api';
import { handler as connectAllow } from '../functions/connect-allow';
import { handler as connectRevoke } from '../functions/connect-revoke';
import { handler as dbUserCompensate } from '../functions/db-user-compensate';
import { handler as dbUserCreate } from '../functions/db-user-create';
import { handler as dbUserDeactivate } from '../functions/db-user-deactivate';
import { handler as dbUserPlan } from '../functions/db-user-plan';
import { handler as dbUserRetire } from '../functions/db-user-retire';
import { handler as executionArchive } from '../functions/execution-archive';
import { handler as idpEvents } from '../functions/idp-events';
import { handler as iamAuthEnable } from '../functions/iam-auth-enable';
import { handler as offboardValidate } from '../functions/offboard-validate';
import { handler as onboardValidate } from '../functions/onboard-validate';
import { handler as targetDescribe } from '../functions/target-describe';

export interface LocalFunction {
  // The handlers are typed by their own inputs; the interpreter hands them parsed JSON.
  handler: (input: never) => Promise<unknown>;
  /** Opens PostgreSQL connections: gets the reserved concurrency cap, as in serverless.yml. */
  database: boolean;
  /** The logical id of the queue whose event source mapping invokes it (a limiter), if any. */
  queue?: string;
  /** Whose slots that queue has (serverless.yml): dbConcurrency (the database limiter) or iam.grantConcurrency. */
  slots?: 'dbConcurrency' | 'grantConcurrency';
}

/** The functions of the stack by their serverless.yml key, bound to the same handler modules. */
export const FUNCTIONS: Record<string, LocalFunction> = {
  onboardValidate: { handler: onboardValidate, database: false },
  targetDescribe: { handler: targetDescribe, database: false },
  iamAuthEnable: { handler: iamAuthEnable, database: false },
  dbUserCreate: { handler: dbUserCreate, database: true, queue: 'DbUserCreateQueue', slots: 'dbConcurrency' },
  connectAllow: { handler: connectAllow, database: false, queue: 'ConnectAllowQueue', slots: 'grantConcurrency' },
  dbUserCompensate: { handler: dbUserCompensate, database: true },
  offboardValidate: { handler: offboardValidate, database: false },
  dbUserDeactivate: { handler: dbUserDeactivate, database: true },
  connectRevoke: { handler: connectRevoke, database: false },
  dbUserRetire: { handler: dbUserRetire, database: true },
  dbUserPlan: { handler: dbUserPlan, database: true },
  api: { handler: api, database: false },
  executionArchive: { handler: executionArchive, database: false },
  idpEvents: { handler: idpEvents, database: false },
  accessReconcile: { handler: accessReconcile, database: false },
};
