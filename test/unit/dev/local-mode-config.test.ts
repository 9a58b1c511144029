/**
 * Local mode's configuration: the targets files it refuses, and the one it ships (an existing server instead of the
 * embedded one: test/integration/local-mode-config.test.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLocalConfig } from '../../../dev/local-mode';
import { file, target } from '../../support/local-targets';

describe('loadLocalConfig', () => {
  it.each([
    ['an IAM admin (tokens need RDS)', { targets: { a: target({ admin: { method: 'iam', user: 'iam_admin' } }) } }, /admin.method "secret" only/],
    ['TLS on (the local server has no RDS certificate)', { targets: { a: target({ tls: 'verify-full' }) } }, /"tls": "disable"/],
    ['two accounts (one simulated account)', { targets: { a: target(), b: target({ accountId: '210987654321' }) } }, /one AWS account/],
    ['no targets', { targets: {} }, /no targets/],
    ['an invalid file', { targets: { a: target({ kind: 'table' }) } }, /invalid targets configuration/],
  ])('refuses %s', (_, config, message) => {
    expect(() => loadLocalConfig(file(config))).toThrow(message);
  });

  it('accepts the example file for local mode', () => {
    const config = loadLocalConfig(join(__dirname, '../../..', 'config/targets.local.json'));
    expect(Object.keys(config.targets)).toEqual(['local']);
  });
});
