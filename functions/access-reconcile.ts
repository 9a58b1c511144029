import { lambdaDatabasePlanner } from './lib/api/plan-client';
import { iamClient, lambdaClient, rdsClient, s3Client, snsClient } from './lib/core/clients';
import { loadConfig } from './lib/core/config';
import { requiredEnv } from './lib/core/env';
import { grantDeps } from './lib/iam/deps';
import { stepHandler } from './lib/core/logger';
import { reconcileAccess, reconcileMetrics } from './lib/review/reconcile';

/**
 * The scheduled reconcile (EventBridge schedule, daily by default): the access review and drift check, archived to
 * the archive bucket under reviews/, published to the alarm topic when it found drift; repairs only toward less
 * access, and only what operations.reconcile.repair turns on. The database is read through dbUserPlan (in the VPC),
 * so this function needs no VPC.
 */
export const handler = stepHandler(
  'ReconcileAccess',
  async (_event: unknown) => {
    const config = loadConfig();
    return reconcileAccess({
      config,
      rds: rdsClient,
      iam: iamClient(),
      database: lambdaDatabasePlanner(lambdaClient(), requiredEnv('DB_PLAN_FUNCTION')),
      // Used only when repair is on; only then may its role rewrite the project's grant policies (config/stack.js).
      grants: grantDeps(),
      archive: { s3: s3Client(), bucket: requiredEnv('ARCHIVE_BUCKET') },
      notify: { sns: snsClient(), topicArn: requiredEnv('ALARM_TOPIC_ARN') },
    });
  },
  reconcileMetrics,
);
