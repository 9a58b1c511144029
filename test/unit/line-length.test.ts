import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Biome's lineWidth (biome.jsonc) wraps code but cannot break string literals, template literals or comments, and it
 * does not read YAML or SQL: this test holds every tracked source line to the same 160 characters.
 */
const MAX = 160;
const root = join(__dirname, '../..');

/**
 * JSON has no concatenation, so a long string value cannot be split without changing the document. Each entry allows
 * lines of the form `"key": "..."` in that file, and only those.
 */
const EXCEPTIONS: readonly { file: string; key: string; reason: string }[] = [
  { file: 'config/guard-exceptions.json', key: 'about', reason: 'prose read by reviewers of the guard exceptions (test/integration/guard.test.ts)' },
  { file: 'config/guard-exceptions.json', key: 'reason', reason: 'the justification of each guard exception, one string per control' },
  { file: 'statemachines/activate.asl.json', key: 'Comment', reason: 'ASL comments are JSON strings, shown by the Step Functions console' },
  { file: 'statemachines/end.asl.json', key: 'Comment', reason: 'ASL comments are JSON strings, shown by the Step Functions console' },
  { file: 'statemachines/offboard.asl.json', key: 'Comment', reason: 'ASL comments are JSON strings, shown by the Step Functions console' },
  { file: 'statemachines/onboard.asl.json', key: 'Comment', reason: 'ASL comments are JSON strings, shown by the Step Functions console' },
  { file: 'statemachines/onboard.asl.json', key: 'Cause', reason: "a Fail state's Cause: the error text an operator reads, kept whole" },
  ...['create-group-membership', 'delete-group-membership', 'delete-user'].map((event) => ({
    file: `test/fixtures/idp/identitystore-${event}.json`,
    key: 'userAgent',
    reason: 'a recorded CloudTrail event, kept verbatim',
  })),
];

const tracked = (): string[] =>
  execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.js', '*.cjs', '*.mjs', '*.json', '*.jsonc', '*.yml', '*.yaml', '*.sql'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && f !== 'package-lock.json');

const jsonStringPair = (line: string): string | undefined => /^\s*"([^"]+)": "(?:[^"\\]|\\.)*",?$/.exec(line)?.[1];

describe('line length', () => {
  const files = tracked();
  const long = files.flatMap((file) =>
    readFileSync(join(root, file), 'utf8')
      .split(/\r?\n/)
      .flatMap((line, i) => ([...line].length > MAX ? [{ file, line: i + 1, key: jsonStringPair(line) }] : [])),
  );
  const excepted = (l: (typeof long)[number]) => EXCEPTIONS.find((e) => e.file === l.file && e.key === l.key);

  it(`keeps every tracked source line within ${MAX} characters`, () => {
    expect(files.length).toBeGreaterThan(100);
    expect(long.filter((l) => !excepted(l)).map((l) => `${l.file}:${l.line}`)).toEqual([]);
  });

  it('lists only exceptions that still match a long line, each with its reason', () => {
    for (const e of EXCEPTIONS) expect(e.reason).not.toBe('');
    expect(EXCEPTIONS.filter((e) => !long.some((l) => excepted(l) === e)).map((e) => `${e.file} "${e.key}"`)).toEqual([]);
  });
});
