/**
 * The SQL files (functions/lib/postgres/sql): every one is loaded, every include resolves, nothing of the template
 * syntax reaches the server, and each says what its parameters are. The bundles are checked in
 * test/integration/template.test.ts (the packaged zips hold the text), tsx here and by `npm start` (local-mode tests).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as queries from '../../../functions/lib/postgres/queries';
import { expandSql, type StatementFile, sql, sqlFiles } from '../../../functions/lib/postgres/sql';

const SQL_FILES = sqlFiles();

const ROOT = resolve(__dirname, '../../..');
const DIR = join(ROOT, 'functions/lib/postgres/sql');
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : p.endsWith('.sql') ? [relative(DIR, p)] : [];
  });
const statements = SQL_FILES.filter((f) => !f.startsWith('fragments/')) as StatementFile[];
const fragments = SQL_FILES.filter((f) => f.startsWith('fragments/'));
const raw = (f: string): string => readFileSync(join(DIR, f), 'utf8');
const header = (text: string): string => (/^(?:--[^\n]*\n)+/.exec(text) ?? [''])[0];

describe('SQL files', () => {
  it('loads every .sql file of the folder, and only those', () => {
    expect([...SQL_FILES].sort()).toEqual(filesUnder(DIR).sort());
    expect(statements.length).toBeGreaterThan(20);
  });

  it.each(statements)('%s: loads as one statement with its fragments expanded and no placeholder left', (name) => {
    const text = sql(name);
    expect(text).toMatch(/^(SELECT|WITH)\s/);
    expect(text).not.toMatch(/\{\{|\}\}/);
  });

  it.each(SQL_FILES)('%s: opens with a header that names every parameter the statement uses', (name) => {
    const h = header(raw(name));
    expect(h.split('\n').length, 'a header comment says what it is for').toBeGreaterThan(2);
    if (name.startsWith('fragments/')) return;
    const used = [...new Set([...sql(name as StatementFile).matchAll(/\$(\d+)/g)].map((m) => `$${m[1]}`))];
    for (const p of used) expect(h, `${name} uses ${p}`).toContain(p);
    if (used.length === 0) expect(h).toContain('No parameters');
  });

  it.each(fragments)('%s: declares its name and parameters on its first line, and some statement includes it', (file) => {
    const name = file.slice('fragments/'.length, -'.sql'.length);
    expect(raw(file).split('\n')[0]).toMatch(new RegExp(`^-- fragment: ${name}\\([^)]*\\)$`));
    expect(statements.some((s) => raw(s).includes(`{{${name}`))).toBe(true);
  });

  it('every statement of queries.ts is a loaded file', () => {
    const loaded = new Set(statements.map((s) => sql(s)));
    for (const [key, value] of Object.entries(queries)) {
      if (typeof value === 'string') expect(loaded.has(value), key).toBe(true);
    }
    expect(loaded.has(queries.TERMINATE_SESSIONS(170000)) && loaded.has(queries.TERMINATE_SESSIONS(130000))).toBe(true);
  });
});

describe('expandSql', () => {
  it('passes arguments with parentheses, commas and quotes of their own, and strips the header', () => {
    expect(expandSql("-- a header\n-- more\nSELECT 1 FROM {{acl-entries(coalesce(d.datacl, acldefault('d', d.datdba)))}} a")).toBe(
      "SELECT 1 FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) acl_item, aclexplode(ARRAY[acl_item]) a",
    );
    expect(expandSql('SELECT {{trusted-function(p, fo, $3)}}')).toContain('fo.rolname = $3)))');
    expect(expandSql('SELECT 1 WHERE {{connectable-database}}')).toBe('SELECT 1 WHERE NOT d.datistemplate AND d.datallowconn');
  });

  it('refuses an unknown fragment, a wrong number of arguments and a placeholder it cannot expand', () => {
    expect(() => expandSql('SELECT {{no-such-fragment}}', 'x.sql')).toThrow(/x\.sql: \{\{no-such-fragment\}\} names no fragment/);
    expect(() => expandSql('SELECT {{is-membership}}', 'x.sql')).toThrow(/takes 1 argument\(s\) \(am\), got 0/);
    expect(() => expandSql('SELECT {{acl-entries(a, b)}}', 'x.sql')).toThrow(/takes 1 argument\(s\) \(acl\), got 2/);
    expect(() => expandSql('SELECT {{ spaced }}', 'x.sql')).toThrow(/unexpanded placeholder/);
  });
});

describe('under tsx (npm start, the scripts)', () => {
  it('a .sql import is the same text as in the tests and the bundles (dev/sql-text.cjs)', () => {
    const script = "const { sql } = require('./functions/lib/postgres/sql'); process.stdout.write(sql('owned-objects.sql'));";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--require', './dev/sql-text.cjs', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(sql('owned-objects.sql'));
  });
});
