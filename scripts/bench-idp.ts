/**
 * `npm run bench:idp`: 10,000 people through the identity-provider path. An Identity Store notification (which names
 * nobody, so the whole mapping is reconciled) reaches the deployed idpEvents handler; the identity store is simulated
 * with BENCH_IDP_PEOPLE people (default 10,000) in two mapped groups, paged at 100 as the API pages; every execution
 * it starts then runs through the real onboard.asl.json and handlers against a real PostgreSQL server, through the
 * database and IAM limiters. The principal is the shared permission-set role (one session-tag statement for
 * everyone): the scaling path, since one policy per person stops at IAM's 5,000 customer-managed policies.
 *
 * Printed beside their limits: the reconcile's time (idpEvents' timeout), its directory and Step Functions calls,
 * failures, and the cost per person at list prices. Not modelled: network latency of the AWS calls (the reconcile's
 * time here is the pacing and the work; the time in AWS is estimated beside it from the calls made).
 */
import '../dev/polyfills';
import { IAMClient } from '@aws-sdk/client-iam';
import { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { SFNClient } from '@aws-sdk/client-sfn';
import { lambdaDatabasePlanner } from '../functions/lib/api/plan-client';
import { parseConfig } from '../functions/lib/core/config';
import { identityStoreDirectory } from '../functions/lib/idp/providers/identity-center';
import { handleIdentityEvent } from '../functions/lib/idp/handle';
import { logger } from '../functions/lib/core/logger';
import { type ExecutionRecord, statePath } from '../dev/asl-runner';
import { startLocalPostgres } from '../dev/embedded-postgres';
import { FUNCTIONS } from '../dev/functions';
import { ACCOUNT_ID, createSandbox } from '../dev/sandbox';
import { check } from './lib/report';
import { type IdentityStoreData, SimulatedIdentityStore, SimulatedLambda } from '../dev/simulated-services';

if (!process.env.BENCH_LOGS) logger.setLogLevel('SILENT');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const PEOPLE = Number(process.env.BENCH_IDP_PEOPLE ?? 10_000);
const READERS = 'c4e8a4d8-2051-70b3-1f0e-9a8b7c6d5e40';
const WRITERS = 'a1b2c3d4-0000-7000-8000-000000000001';
/** serverless.yml: idpEvents' timeout; the config's default start rate. */
const IDP_TIMEOUT_S = 900;
const STARTS_PER_SECOND = 100;
/** A typical round trip of an AWS API call from Lambda in the same Region, for the estimate of the reconcile in AWS. */
const AWS_CALL_MS = 30;
/** List prices (us-east-1, 2026): Step Functions Standard per state transition; Lambda per request and per GB-s (x86); SQS per request. */
const PRICE = { transition: 0.000025, lambdaRequest: 0.2 / 1e6, lambdaGbSecond: 0.0000166667, sqsRequest: 0.4 / 1e6 };

async function main(): Promise<void> {
  const server = await startLocalPostgres();
  const sb = createSandbox({ pg: server });
  const lambda = new SimulatedLambda(FUNCTIONS).install();
  const data: IdentityStoreData = {
    users: Array.from({ length: PEOPLE }, (_, i) => ({
      userId: `90000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
      userName: `person${i}@example.com`,
      groups: i % 4 === 0 ? [READERS, WRITERS] : [READERS],
    })),
    groups: [
      { groupId: READERS, displayName: 'db-readers' },
      { groupId: WRITERS, displayName: 'db-writers' },
    ],
  };
  const store = new SimulatedIdentityStore(data, { pageSize: 100 });
  const storeStub = store.install();
  const shared = sb.aws.iam.addRole('AWSReservedSSO_DatabaseUsers_0123456789abcdef');
  const config = parseConfig({
    ...sb.config,
    idp: {
      groups: {
        [READERS]: { targets: ['orders'], dbRoles: ['app_read'], databases: ['app'] },
        [WRITERS]: { targets: ['orders'], dbRoles: ['app_write'], databases: ['app'] },
      },
      principal: { kind: 'shared', roleArn: shared, tagKey: 'db_user', dbUserPrefix: 'sso_' },
      dbUserTemplate: 'sso_{userId}',
      identityStoreId: 'd-0123456789',
    },
  });
  process.env.TARGETS_CONFIG = JSON.stringify(config);
  let failures = 0;
  try {
    const event = {
      version: '0',
      id: 'bench-notification',
      'detail-type': 'Group Membership Created',
      source: 'aws.identitystore',
      account: ACCOUNT_ID,
      region: 'eu-west-1',
      time: new Date().toISOString(),
      resources: [],
      detail: {},
    };
    const sfnCalls = () => sb.runner.executions.size;
    const sfnBefore = sfnCalls();
    console.log(`reconciling ${PEOPLE} people (an Identity Store notification; directory paged at 100) ...`);
    const t0 = performance.now();
    const outcome = await handleIdentityEvent(
      {
        config,
        executions: { sfn: new SFNClient({ region: 'eu-west-1' }), stateMachines: { onboarding: sb.sfn.arns.onboard, offboarding: sb.sfn.arns.offboard } },
        directoryFor: () => identityStoreDirectory(new IdentitystoreClient({ region: 'eu-west-1' }), 'd-0123456789'),
        iam: new IAMClient({}),
        rds: (region) => new RDSClient({ region }),
        database: lambdaDatabasePlanner(new LambdaClient({}), 'dbUserPlan'),
      },
      event,
    );
    const reconcileS = (performance.now() - t0) / 1000;
    const directoryCalls = storeStub.calls().length;
    const startCalls = sfnCalls() - sfnBefore;
    const awsEstimateS = (directoryCalls * AWS_CALL_MS) / 1000 + outcome.executions.length / STARTS_PER_SECOND;

    let ended = 0;
    const progress = setInterval(
      () => console.log(`  ... ${ended}/${outcome.executions.length} executions ended after ${((performance.now() - t0) / 1000).toFixed(0)} s`),
      10_000,
    );
    const runs: ExecutionRecord[] = await Promise.all(
      outcome.executions.map(async (e) => {
        const record = sb.runner.find('onboard', e.requestId) ?? sb.runner.find('offboard', e.requestId);
        if (!record) throw new Error(`execution ${e.requestId} was not started`);
        while (record.status === 'RUNNING') await new Promise((r) => setTimeout(r, 200));
        ended++;
        return record;
      }),
    );
    clearInterval(progress);
    const allS = (performance.now() - t0) / 1000;
    const failed = runs.filter((r) => r.status !== 'SUCCEEDED');
    failures = failed.length + (outcome.executions.length === PEOPLE ? 0 : 1);
    const transitions = runs.reduce((n, r) => n + r.events.filter((x) => x.type === 'StateEntered' || x.type === 'StateRetried').length, 0);
    const invocations = Object.values(sb.runner.stats.invocations).reduce((a, b) => a + b, 0);
    const sqsRequests = runs.reduce((n, r) => n + statePath(r).filter((s) => s === 'CreateDbUser' || s === 'AllowConnect').length, 0) * 3;
    // The reconcile itself: one idpEvents invocation of the estimated AWS time at 256 MB, and one dbUserPlan per target.
    const reconcileCost = PRICE.lambdaRequest * 2 + PRICE.lambdaGbSecond * 0.25 * awsEstimateS;
    const runCost = transitions * PRICE.transition + invocations * PRICE.lambdaRequest + sqsRequests * PRICE.sqsRequest;
    const errors = [...new Set(failed.map((r) => `${r.error}: ${r.cause}`))].slice(0, 3);
    const retried = new Map<string, number>();
    for (const r of runs)
      for (const e of r.events)
        if (e.type === 'StateFailed') {
          const k = String((e as { Error?: string }).Error);
          retried.set(k, (retried.get(k) ?? 0) + 1);
          if (process.env.BENCH_IDP_CAUSES) console.log(k, JSON.stringify(e).slice(0, 600));
        }

    console.log(`\n${PEOPLE} people through the identity-provider path (one reconcile, shared permission-set role)`);
    console.log(`  executions started:         ${outcome.executions.length}  (target ${PEOPLE}: ${check(outcome.executions.length === PEOPLE)})`);
    console.log(
      `  reconcile, here:            ${reconcileS.toFixed(1)} s  (the starts alone ` +
        `at ${STARTS_PER_SECOND}/s: ${(outcome.executions.length / STARTS_PER_SECOND).toFixed(1)} s)`,
    );
    console.log(
      `  reconcile, in AWS (est.):   ${awsEstimateS.toFixed(1)} s  (${directoryCalls} directory calls ` +
        `x ${AWS_CALL_MS} ms + the starts; idpEvents timeout ${IDP_TIMEOUT_S} ` +
        `s: ${check(awsEstimateS < IDP_TIMEOUT_S)})`,
    );
    console.log(
      `  directory calls:            ${directoryCalls}  (${(directoryCalls / PEOPLE).toFixed(3)} per ` +
        `person; one DescribeUser + one ListGroupMembershipsForMember each would be ${2 * PEOPLE})`,
    );
    console.log(`  executions in Step Functions: ${startCalls}  (one StartExecution per person, no DescribeExecution)`);
    console.log(`  all executions ended after: ${allS.toFixed(1)} s  (${(PEOPLE / allS).toFixed(1)} onboardings/s; database-bound, see npm run bench)`);
    console.log(`  failures:                   ${failed.length}  (target 0: ${check(failed.length === 0)})${errors.length ? `  ${errors.join(' | ')}` : ''}`);
    console.log(
      `  state transitions per run:  ${(transitions / runs.length).toFixed(2)}  (retried: ${[...retried].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`,
    );
    console.log(`  Lambda invocations per run: ${(invocations / runs.length).toFixed(2)}`);
    console.log(
      `  cost per person:            $${((reconcileCost + runCost) / PEOPLE).toFixed(6)}  (transitions, ` +
        `Lambda requests, SQS requests, the reconcile's compute at list prices; ` +
        `the steps' own compute not counted)`,
    );
  } finally {
    storeStub.restore();
    lambda.restore();
    sb.restore();
    await server.stop();
  }
  if (failures > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
