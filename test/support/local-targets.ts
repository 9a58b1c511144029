import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { uniqueName } from './pg';

/** A targets file for local mode in a folder of its own, removed after the test file: the target, and the file. */
export const dir = mkdtempSync(join(tmpdir(), 'local-mode-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

export const target = (extra: object = {}) => ({
  kind: 'instance',
  identifier: 'ext-db',
  region: 'eu-west-1',
  accountId: '123456789012',
  allowedDbRoles: [],
  admin: { method: 'secret', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:local-AbCdEf' },
  successorRole: 'data_owner',
  tls: 'disable',
  ...extra,
});

export const file = (config: object): string => {
  const f = join(dir, `${uniqueName('targets')}.json`);
  writeFileSync(f, JSON.stringify(config));
  return f;
};
