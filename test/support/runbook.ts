import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** docs/runbook.md, read once; its tables by section heading (header row and separator left out, cells trimmed of the pipes). */
export const RUNBOOK = readFileSync(join(resolve(__dirname, '../..'), 'docs/runbook.md'), 'utf8');
export const rowsOf = (heading: string): string[][] => {
  const section = RUNBOOK.slice(RUNBOOK.indexOf(heading)).split('\n## ')[0];
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('|---'))
    .slice(1)
    .map((l) => l.slice(2, -2).split(' | '));
};
