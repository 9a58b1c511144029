/**
 * docs/runbook.md cannot drift from the code: every error code has a row whose HTTP status and "retried" column are
 * the error table's (the cost section, which needs real runs, is test/integration/runbook.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, httpStatusOf, meaningOf, RETRYABLE_CODES } from '../../../functions/lib/core/errors';
import { rowsOf } from '../../support/runbook';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe('docs/runbook.md', () => {
  it('has one row per error code, with its HTTP status and whether the state machines retry it', () => {
    const rows = rowsOf('## Error codes');
    const byCode = new Map(rows.map((r) => [r[0].replace(/`/g, ''), r]));
    expect(rows.length, 'no code twice').toBe(byCode.size);
    expect(sorted([...byCode.keys()])).toEqual(sorted(ERROR_CODES));
    for (const code of ERROR_CODES) {
      const [, http, retried, means, todo] = byCode.get(code) ?? [];
      expect(Number(http), `${code}: HTTP`).toBe(httpStatusOf(code));
      expect(retried, `${code}: retried`).toBe(RETRYABLE_CODES.includes(code) ? 'yes' : 'no');
      expect(means, `${code}: what it means (errors.ts)`).toBe(meaningOf(code));
      expect(todo.length, `${code}: what to do`).toBeGreaterThan(10);
    }
  });
});
