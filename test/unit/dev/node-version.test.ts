/**
 * Which Node.js versions are supported, said the same everywhere: package.json engines, .nvmrc, the Lambda runtime
 * in serverless.yml, README, and the one-line notice `npm start` prints on an older version (which still runs).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeVersionNotice, SUPPORTED_NODE_MAJOR } from '../../../dev/node-version';

const ROOT = join(__dirname, '../../..');
const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');

describe('supported Node.js versions', () => {
  it('package.json engines, .nvmrc, the Lambda runtime and README name the same major version', () => {
    expect((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node).toBe(`>=${SUPPORTED_NODE_MAJOR}`);
    expect(read('.nvmrc').trim()).toBe(String(SUPPORTED_NODE_MAJOR));
    expect(read('serverless.yml')).toMatch(new RegExp(`runtime: nodejs${SUPPORTED_NODE_MAJOR}\\.x`));
    expect(read('README.md')).toContain(`Needs Node.js ${SUPPORTED_NODE_MAJOR} or later`);
  });

  it.each(['v20.20.2', 'v18.19.0'])('%s gets a one-line notice naming the version and what to use', (version) => {
    const notice = nodeVersionNotice(version) as string;
    expect(notice).toBe(
      `Note: Node.js ${version} is not supported (end of life); use Node.js 22 or later, ` +
        `as Lambda (nodejs22.x) and the dependencies do ("nvm use" reads .nvmrc). Local mode and the tests ` +
        `still run on it.`,
    );
    expect(notice).not.toContain('\n');
  });

  it.each(['v22.0.0', 'v22.12.1', 'v24.3.0'])('%s is supported: no notice', (version) => {
    expect(nodeVersionNotice(version)).toBeUndefined();
  });
});
