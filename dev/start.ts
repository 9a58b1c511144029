/**
 * `npm start`: local mode. Environment: PORT (default 3000), TARGETS_FILE (default
 * config/targets.local.json), DATABASE_URL (use this PostgreSQL server instead of starting one),
 * LOCAL_WAIT_MS (length of each Wait state, default 1000), LOCAL_ARCHIVE_DIR (the execution archive,
 * default .local/archive), LOCAL_IDENTITY_STORE (people and groups of the simulated identity store,
 * default config/identity-store.local.json); the simulation's faults, off by default: LOCAL_IAM_THROTTLE_RPS,
 * LOCAL_IAM_THROTTLE_BURST, LOCAL_IAM_READ_THROTTLE_RPS, LOCAL_IAM_CONSISTENCY_LAG_MS, LOCAL_PAGE_SIZE,
 * LOCAL_IAM_CONCURRENT_MODIFICATION_RATE, LOCAL_SIM_SEED (see README). Ctrl-C stops everything; executions still
 * running are listed and kept in the archive folder, and the next start lists them again with the retry that
 * finishes each (dev/interrupted-runs.ts).
 */
import { relative, resolve } from 'node:path';
import { logger } from '../functions/lib/core/logger';
import { CALLER_HEADER } from './http-api';
import { describeInterrupted } from './interrupted-runs';
import { nodeVersionNotice } from './node-version';
import { DEFAULT_ARCHIVE_DIR, DEFAULT_IDENTITY_STORE_FILE, DEFAULT_TARGETS_FILE, simulationFromEnv, startLocalMode } from './local-mode';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
if (!process.env.POWERTOOLS_LOG_LEVEL) logger.setLogLevel('WARN');
// EMF lines are for CloudWatch Logs; on a terminal they would bury the output. POWERTOOLS_METRICS_DISABLED=false shows them.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

/** Signals closer together than this are one Ctrl-C; a later one forces the exit. */
const SAME_CTRL_C_MS = 1000;

async function main(): Promise<void> {
  const unsupported = nodeVersionNotice();
  if (unsupported) console.error(unsupported);
  const targetsFile = resolve(process.env.TARGETS_FILE ?? DEFAULT_TARGETS_FILE);
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a whole number from 0 to 65535 (0: any free port), not "${process.env.PORT}"`);
  const archiveDir = resolve(process.env.LOCAL_ARCHIVE_DIR ?? DEFAULT_ARCHIVE_DIR);
  const identityStoreFile = resolve(process.env.LOCAL_IDENTITY_STORE ?? DEFAULT_IDENTITY_STORE_FILE);
  const simulation = simulationFromEnv(process.env);
  const local = await startLocalMode({
    targetsFile,
    port,
    databaseUrl: process.env.DATABASE_URL || undefined,
    waitMs: Number(process.env.LOCAL_WAIT_MS ?? 1000),
    archiveDir,
    identityStoreFile,
    simulation,
  });

  let stoppingSince: number | undefined;
  const stop = async (signal: string): Promise<void> => {
    if (stoppingSince !== undefined) {
      // One Ctrl-C can reach this process twice: from the terminal (to the whole process group) and relayed by npm.
      // tsx runs in-process (node --import tsx): its CLI would relay the signal too and SIGKILL this process when
      // its event loop is busy for 60 ms while stopping, so the stop never finished (a flaky 'stopped' under load).
      if (Date.now() - stoppingSince < SAME_CTRL_C_MS) return;
      console.log(`${signal} again: exiting now`);
      process.exit(130);
    }
    stoppingSince = Date.now();
    console.log(`\n${signal}: stopping (API and PostgreSQL)...`);
    try {
      const { interrupted, notKept } = await local.stop();
      for (const line of describeInterrupted(interrupted, { stopping: true, notKept })) console.log(line);
      console.log('stopped');
      process.exit(0);
    } catch (e) {
      console.error(`stopping failed: ${(e as Error).message}`);
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const targets = Object.entries(local.config.targets)
    .map(([name, t]) => `${name} (${t.kind} ${t.identifier})`)
    .join(', ');
  console.log(
    [
      'rds-iam-access local mode (AWS simulated in memory; PostgreSQL is real)',
      `API: ${local.apiUrl}`,
      `PostgreSQL: ${local.postgresUrl}`,
      ...(local.postgresBinaries?.copiedFrom
        ? [
            `PostgreSQL binaries: ${local.postgresBinaries.nativeDir} (a private copy: ` +
              `the OS user "postgres" it runs as cannot reach ${local.postgresBinaries.copiedFrom})`,
          ]
        : []),
      `Targets: ${targets} from ${relative(process.cwd(), targetsFile) || targetsFile}`,
      `Archive: ${relative(process.cwd(), archiveDir) || archiveDir} (the S3 bucket of the stack, as files)`,
      `Caller identity: send the header "${CALLER_HEADER}: <IAM ARN>" with each request (stands in for SigV4)`,
      `Identity-provider events: POST ${local.apiUrl}/local/events (an EventBridge event; identity store from ${relative(process.cwd(), identityStoreFile)})`,
      ...(Object.keys(simulation).length ? [`Simulated AWS faults: ${JSON.stringify(simulation)}`] : []),
      ...local.notices.map((n) => `Note: ${n}`),
      ...describeInterrupted(local.interruptedBefore, { apiUrl: local.apiUrl, callerHeader: CALLER_HEADER }),
      'Ready. Ctrl-C stops.',
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  console.error(`local mode failed to start: ${(e as Error).message}`);
  process.exit(1);
});
