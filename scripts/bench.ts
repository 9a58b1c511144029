/**
 * `npm run bench`: the cost of one onboarding and the behaviour of 1,000 at once, measured
 * through the real ASL file and handlers, against a real PostgreSQL server, with the AWS
 * control plane simulated in memory. Retry intervals and reserved concurrency are the ones
 * the state machine and serverless.yml declare; nothing is shortened.
 */
import '../dev/polyfills';
import pg from 'pg';
import { logger } from '../functions/lib/core/logger';
import { connectionStats } from '../functions/lib/postgres/connection';
import { withTargetAdmin } from '../functions/lib/postgres/admin-session';
import { ensureDbUser } from '../functions/lib/postgres/onboard';
import { DATABASE_CONNECT_STATE } from '../functions/lib/postgres/queries';
import { dbUserSpecOf, type OnboardState } from '../functions/lib/workflows/steps';
import { watchdogStats } from '../functions/lib/postgres/watchdog';
import { type ExecutionRecord, statePath } from '../dev/asl-runner';
import { startLocalPostgres } from '../dev/embedded-postgres';
import { FUNCTIONS } from '../dev/functions';
import { createSandbox } from '../dev/sandbox';
import { check } from './lib/report';

// The handlers' JSON logs would drown the figures; set BENCH_LOGS=1 to see them.
if (!process.env.BENCH_LOGS) logger.setLogLevel('SILENT');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// EMF metric lines are for CloudWatch Logs; here they would bury the figures (POWERTOOLS_METRICS_DISABLED=false shows them).
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const IAM_WRITES = /^(Create|Delete|Attach|Detach|Put|Tag)/;
const TOTAL = Number(process.env.BENCH_ONBOARDINGS ?? 1000);
const EXISTING = Number(process.env.BENCH_EXISTING ?? 5000);

/**
 * N roles each holding CONNECT on `app`, created by the admin as this project creates its users: on PostgreSQL 16+
 * the creator becomes a member (with ADMIN OPTION) of every role it creates, and that membership list is what a
 * fleet makes the admin's GRANTs pay for (docs/design.md "A fleet's cost"). Their group memberships are left out:
 * they cost the seeding minutes and change nothing about that list.
 */
const seedExistingUsers = async (adminUrl: string, n: number): Promise<void> => {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DO $$ BEGIN FOR i IN 0..${n - 1} LOOP
      EXECUTE format('CREATE ROLE %I NOLOGIN', 'bench_existing_' || i);
      EXECUTE format('GRANT CONNECT ON DATABASE app TO %I', 'bench_existing_' || i);
    END LOOP; END $$`);
  } finally {
    await c.end();
  }
};

/** Drops the users a phase created (by name prefix), so the next phase meets the fleet the previous one met. */
const dropUsers = async (superUrl: string, prefix: string): Promise<void> => {
  const c = new pg.Client({ connectionString: superUrl });
  await c.connect();
  try {
    await c.query(`DO $$ DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE ${pg.escapeLiteral(`${prefix}%`)} LOOP
      EXECUTE format('REVOKE ALL ON DATABASE app FROM %I', r);
      EXECUTE format('REVOKE ALL ON DATABASE postgres FROM %I', r);
      EXECUTE format('DROP ROLE %I', r);
    END LOOP; END $$`);
  } finally {
    await c.end();
  }
};

async function main(): Promise<void> {
  const server = await startLocalPostgres();
  const sb = createSandbox({ pg: server });
  const cap = sb.config.dbConcurrency;
  const iamWrites = () => sb.aws.stubs.iam.calls().filter((c) => IAM_WRITES.test(c.args[0].constructor.name)).length;
  const invocations = () => Object.values(sb.runner.stats.invocations).reduce((a, b) => a + b, 0);
  let failures = 0;
  try {
    // ---------------------------------------------------------------- one onboarding
    const role = sb.aws.iam.addRole('BenchSingle');
    const before = { conn: connectionStats.opened, tx: connectionStats.transactions, iam: iamWrites(), inv: invocations() };
    const one = await sb.runner.run('onboard', 'bench-single', {
      requestId: 'bench-single',
      principalArn: role,
      target: 'orders',
      dbRoles: ['app_read'],
      databases: ['app'],
    });
    if (one.status !== 'SUCCEEDED') throw new Error(`single onboarding ${one.status}: ${one.error} ${one.cause}`);
    const transitions = statePath(one).length;
    const used = {
      conn: connectionStats.opened - before.conn,
      tx: connectionStats.transactions - before.tx,
      iam: iamWrites() - before.iam,
      inv: invocations() - before.inv,
    };
    console.log('one onboarding (IAM auth already on, 1 group role, 1 database)');
    console.log(`  state transitions:   ${transitions}  (target <= 8: ${check(transitions <= 8)})  ${statePath(one).join(' > ')}`);
    console.log(`  Lambda invocations:  ${used.inv}  (target <= 5: ${check(used.inv <= 5)})`);
    console.log(`  admin connections:   ${used.conn}  (target 1 per database: ${check(used.conn <= 1)})`);
    console.log(`  transactions:        ${used.tx}  (target 1 per database: ${check(used.tx <= 1)})`);
    console.log(`  IAM writes:          ${used.iam}  (target <= 2: ${check(used.iam <= 2)})`);

    // ---------------------------------------------------------------- per-fleet slowdown
    // Users already holding CONNECT on the database make its ACL long (and TOASTed): onboarding must not slow down.
    const timeOne = async (label: string): Promise<number> => {
      const t = performance.now();
      const r = await sb.runner.run('onboard', label, {
        requestId: label,
        principalArn: sb.aws.iam.addRole(label),
        target: 'orders',
        dbRoles: ['app_read'],
        databases: ['app'],
      });
      if (r.status !== 'SUCCEEDED') throw new Error(`${label} ${r.status}: ${r.error} ${r.cause}`);
      return performance.now() - t;
    };
    // The median of 5, one after another: a single run is at the mercy of the machine.
    const median = async (label: string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) times.push(await timeOne(`${label}-${i}`));
      return times.sort((a, b) => a - b)[2];
    };
    const connectStateMs = async (): Promise<number> => {
      const c = new pg.Client({ connectionString: server.url(server.masterUser) });
      await c.connect();
      try {
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          const t = performance.now();
          await c.query(DATABASE_CONNECT_STATE, [['app'], 'no_such_user']);
          times.push(performance.now() - t);
        }
        return times.sort((a, b) => a - b)[2];
      } finally {
        await c.end();
      }
    };
    const atZero = { run: await median('bench-fleet-0'), query: await connectStateMs() };
    console.log(`  (seeding ${EXISTING} users holding CONNECT on the database ...)`);
    await seedExistingUsers(server.url(server.masterUser), EXISTING);
    const atFleet = { run: await median(`bench-fleet-${EXISTING}`), query: await connectStateMs() };
    console.log(`\none onboarding with users already holding CONNECT on the database (median of 5)`);
    console.log(`  at 0 existing users:        ${atZero.run.toFixed(0)} ms  (of it the CONNECT-state query ${atZero.query.toFixed(1)} ms)`);
    console.log(
      `  at ${EXISTING} existing users:     ${atFleet.run.toFixed(0)} ms  (of it the CONNECT-state ` +
        `query ${atFleet.query.toFixed(1)} ms; target <= 25 ms, was 3.5 s: ${check(atFleet.query <= 25)})`,
    );
    console.log(`  (the rest of the difference is GRANT CONNECT rewriting the database's one ACL array: linear in its size)`);

    // ---------------------------------------------------------------- the physical limit
    // The onboarding SQL alone (the step's own connection and transaction, no workflow, no Lambda, no
    // limiter) over the configured number of connections: what the database can do, measured on the same
    // server and fleet as the burst below (its users are dropped again before the burst starts).
    const limitStates: OnboardState[] = [];
    for (let i = 0; i < TOTAL; i++) {
      const input = {
        requestId: `limit-${i}`,
        dbUser: `limit_${i}`,
        principalArn: sb.aws.iam.addRole(`LimitRole${String(i).padStart(4, '0')}`),
        target: 'orders',
        dbRoles: ['app_read'],
        databases: ['app'],
      };
      const validated = (await FUNCTIONS.onboardValidate.handler(input as never)) as Omit<OnboardState, 'db'>;
      limitStates.push({ ...validated, db: (await FUNCTIONS.targetDescribe.handler({ target: validated.target } as never)) as OnboardState['db'] });
    }
    const tl = performance.now();
    let nextLimit = 0;
    await Promise.all(
      Array.from({ length: cap }, async () => {
        while (nextLimit < limitStates.length) {
          const state = limitStates[nextLimit++];
          await withTargetAdmin(state.target, state.db, (client) => ensureDbUser(client, dbUserSpecOf(state)));
        }
      }),
    );
    const limitPerSecond = TOTAL / ((performance.now() - tl) / 1000);
    console.log(`\nthe physical limit: the onboarding SQL of ${TOTAL} users over ${cap} connections, no workflow`);
    console.log(`  ${limitPerSecond.toFixed(1)} onboardings/s`);
    // Each user the admin creates makes its later GRANTs dearer (PostgreSQL 16+, see seedExistingUsers): the burst
    // must meet the fleet the limit met, not one larger by TOTAL, or the ratio measures the fleet and not the workflow.
    await dropUsers(server.url(server.superUser), 'limit_');

    // ---------------------------------------------------------------- 1,000 at once
    const observer = new pg.Client({ connectionString: server.url(server.superUser) });
    await observer.connect();
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await observer.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'rds-iam-access'`);
        peak = Math.max(peak, rows[0].n as number);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const principals = Array.from({ length: TOTAL }, (_, i) => sb.aws.iam.addRole(`BenchRole${String(i).padStart(4, '0')}`));
    const connBefore = connectionStats.opened;
    const watchersBefore = watchdogStats.opened;
    const invocationsBefore = invocations();
    const t0 = performance.now();
    let ended = 0;
    // A line every 5 s: at 3-10 onboardings a second this part is the bench's minutes.
    const progress = setInterval(() => console.log(`  ... ${ended}/${TOTAL} ended after ${((performance.now() - t0) / 1000).toFixed(0)} s`), 5000);
    const runs: ExecutionRecord[] = await Promise.all(
      principals.map((principalArn, i) =>
        sb.runner
          .run('onboard', `bench-${i}`, { requestId: `bench-${i}`, principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'] })
          .finally(() => ended++),
      ),
    );
    clearInterval(progress);
    const seconds = (performance.now() - t0) / 1000;
    sampling = false;
    await sampler;
    await observer.end();
    const burstInvocations = invocations() - invocationsBefore;
    // Step Functions bills every state entered and every retry of a state: both are transitions.
    const billedTransitions = runs.reduce((n, r) => n + r.events.filter((e) => e.type === 'StateEntered' || e.type === 'StateRetried').length, 0);
    const failed = runs.filter((r) => r.status !== 'SUCCEEDED');
    failures = failed.length;
    const errors = [...new Set(failed.map((r) => `${r.error}: ${r.cause}`))].slice(0, 5);
    console.log(
      `\n${TOTAL} onboardings started at once on one target (dbConcurrency ${cap}: the limiter's slots; ` +
        `iam.writesPerSecond ${sb.config.iam.writesPerSecond}, IAM unthrottled: ` +
        `the database is the bound here)`,
    );
    const ratio = TOTAL / seconds / limitPerSecond;
    console.log(`  wall time:                  ${seconds.toFixed(1)} s  (${(TOTAL / seconds).toFixed(1)} onboardings/s)`);
    console.log(
      `  throughput / limit:         ${ratio.toFixed(2)}  (${(TOTAL / seconds).toFixed(1)} ` +
        `/ ${limitPerSecond.toFixed(1)} per s; target >= 0.8: ${check(ratio >= 0.8)})`,
    );
    console.log(`  failures:                   ${failures}  (target 0: ${check(failures === 0)})${errors.length ? `  ${errors.join(' | ')}` : ''}`);
    console.log(
      `  state transitions per run:  ${(billedTransitions / TOTAL).toFixed(2)}  (entered + retried; target <= 6: ${check(billedTransitions / TOTAL <= 6)})`,
    );
    console.log(`  Lambda invocations per run: ${(burstInvocations / TOTAL).toFixed(2)}  (target <= 4: ${check(burstInvocations / TOTAL <= 4)})`);
    console.log(`  peak admin connections:     ${peak}  (pg_stat_activity; cap ${cap}: ${check(peak <= cap)})`);
    console.log(`  admin connections opened:   ${connectionStats.opened - connBefore}`);
    console.log(`  watchdog connections:       ${watchdogStats.opened - watchersBefore}  (only while a transaction runs over 250 ms)`);
    console.log(`  peak concurrent DB invokes: ${sb.runner.stats.peakConcurrency.dbUserCreate ?? 0}`);
    const throttled = Object.values(sb.runner.stats.throttles).reduce((a, b) => a + b, 0);
    const queue = sb.runner.queues.get('DbUserCreateQueue')?.stats;
    console.log(`  throttled invocations:      ${throttled}  (target 0: ${check(throttled === 0)})`);
    console.log(
      `  limiter queue:              peak backlog ${queue?.peakBacklog ?? 0}, ` +
        `peak slots busy ${queue?.peakInflight ?? 0}, redeliveries ${queue?.redeliveries ?? 0}`,
    );
    sb.restore();
    failures += await iamThrottled(server);
  } finally {
    sb.restore();
    await server.stop();
  }
  if (failures > 0) process.exitCode = 1;
}

/**
 * IAM as the bound: the simulation throttles mutating calls at IAM_RATE a second (a bucket of as many), the
 * configuration says so (iam.writesPerSecond), and IAM_TOTAL onboardings of new principals start at once. Each costs
 * CreatePolicy and AttachRolePolicy, so the rate alone needs writes / rate seconds: the wall time is printed beside it.
 */
const IAM_TOTAL = Number(process.env.BENCH_IAM_ONBOARDINGS ?? 300);
const IAM_RATE = Number(process.env.BENCH_IAM_RATE ?? 10);
const iamThrottled = async (server: Awaited<ReturnType<typeof startLocalPostgres>>): Promise<number> => {
  const sb = createSandbox({
    pg: server,
    iam: { throttle: { ratePerSecond: IAM_RATE, burst: IAM_RATE } },
    iamPace: { writesPerSecond: IAM_RATE, grantConcurrency: 2 },
  });
  try {
    const writes = () => sb.aws.stubs.iam.calls().filter((c) => IAM_WRITES.test(c.args[0].constructor.name)).length;
    const principals = Array.from({ length: IAM_TOTAL }, (_, i) => sb.aws.iam.addRole(`IamBenchRole${String(i).padStart(4, '0')}`));
    const before = writes();
    const t0 = performance.now();
    const runs = await Promise.all(
      principals.map((principalArn, i) =>
        sb.runner.run('onboard', `iam-bench-${i}`, { requestId: `iam-bench-${i}`, principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'] }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    const written = writes() - before;
    const bound = written / IAM_RATE;
    const failed = runs.filter((r) => r.status !== 'SUCCEEDED').length;
    const compensated = runs.filter((r) => statePath(r).includes('CompensateDbUser')).length;
    const retried = runs.reduce((n, r) => n + r.events.filter((e) => e.type === 'StateRetried').length, 0);
    const queue = sb.runner.queues.get('ConnectAllowQueue')?.stats;
    console.log(
      `\n${IAM_TOTAL} onboardings of new principals at once, IAM throttled at ${IAM_RATE} mutating calls/s ` +
        `(iam.writesPerSecond ${IAM_RATE}, grantConcurrency 2)`,
    );
    console.log(
      `  wall time:                  ${seconds.toFixed(1)} s  (the rate's own bound: ${written} writes ` +
        `/ ${IAM_RATE} per s = ${bound.toFixed(1)} s; ratio ${(seconds / bound).toFixed(2)})`,
    );
    console.log(`  failures:                   ${failed}  (target 0: ${check(failed === 0)})`);
    console.log(`  compensations:              ${compensated}  (target 0: ${check(compensated === 0)})`);
    console.log(`  throttled IAM calls:        ${sb.aws.iam.stats.throttled}  (target 0: ${check(sb.aws.iam.stats.throttled === 0)})`);
    console.log(`  state retries:              ${retried}`);
    console.log(
      `  IAM limiter queue:          peak backlog ${queue?.peakBacklog ?? 0}, ` +
        `peak slots busy ${queue?.peakInflight ?? 0}, redeliveries ${queue?.redeliveries ?? 0}`,
    );
    return failed;
  } finally {
    sb.restore();
  }
};

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
