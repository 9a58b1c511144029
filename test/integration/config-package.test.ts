/**
 * Package time (`osls package`, serverless.yml reading config/stack.js) refuses a bad targets file with the same
 * messages as the functions: the file, the path, what is wrong and what is allowed, and no Serverless
 * variable-resolution stack trace around them. What a function in Lambda would refuse only when it runs
 * (`tls: "disable"`) is refused here too. Nothing is packaged.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const dir = mkdtempSync(join(ROOT, '.tmp', 'config-package-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const example = (): Json => JSON.parse(readFileSync(join(ROOT, 'config/targets.example.json'), 'utf8')) as Json;
const withOrders = (extra: Json): Json => {
  const c = example();
  const targets = c.targets as Record<string, Json>;
  targets.orders = { ...targets.orders, ...extra };
  return c;
};
const withoutDeployment = (): Json => {
  const c = example();
  delete c.deployment;
  return c;
};

/** `osls package` as `npm run package` runs it, with TARGETS_FILE pointing at `text`. */
const packageWith = (name: string, text: string): { status: number | null; output: string; packaged: boolean; file: string } => {
  const file = join(dir, name);
  writeFileSync(file, text);
  const out = join(dir, `${name}.out`);
  const env: NodeJS.ProcessEnv = { ...process.env, TARGETS_FILE: file, AWS_ACCESS_KEY_ID: 'fake', AWS_SECRET_ACCESS_KEY: 'fake' };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  const r = spawnSync('npx', ['osls', 'package', '--stage', 'citest', '--package', out], { cwd: ROOT, env, encoding: 'utf8', timeout: 90_000 });
  return {
    status: r.status,
    output: `${r.stdout}\n${r.stderr}`,
    packaged: existsSync(join(out, 'cloudformation-template-update-stack.json')),
    file: relative(ROOT, file),
  };
};

describe('package time refuses a bad targets file with a short, clear message', () => {
  it.each([
    [
      "an unknown key (the issue's example)",
      JSON.stringify(withOrders({ iamAuth: { enabled: 'never' } })),
      'invalid targets configuration:\n  - targets.orders.iamAuth.enabled: unknown key, did you mean "enable"?',
    ],
    [
      'a wrong type',
      JSON.stringify(withOrders({ iamAuth: { pollSeconds: '30' } })),
      'invalid targets configuration:\n  - targets.orders.iamAuth.pollSeconds: must be a number, not "30"',
    ],
    [
      'tls "disable", which Lambda refuses',
      JSON.stringify(withOrders({ tls: 'disable' })),
      'cannot be deployed:\n  - targets.orders.tls: "disable" is for local mode and tests only; ' +
        'a function in Lambda refuses to connect without TLS (allowed when deploying: "verify-full", ' +
        'the default)',
    ],
    ['no deployment section', JSON.stringify(withoutDeployment()), 'cannot be deployed:\n  - deployment: is required to deploy'],
    [
      'invalid JSON',
      '{\n  "targets": {\n    "orders": { "kind": "instance", }\n  }\n}\n',
      'not valid JSON at line 3, column 37: expected a property name in double quotes',
    ],
    ['an empty file', '', 'the file is empty: expected a JSON object'],
  ])(
    '%s',
    (what, text, expected) => {
      const r = packageWith(`${what.replace(/\W+/g, '-')}.json`, text);
      expect(r.status, r.output).not.toBe(0);
      expect(r.packaged, 'nothing is packaged').toBe(false);
      expect(r.output).toContain(`${r.file}: ${expected}`);
      // The message alone: no stack frames, no Serverless variable-resolution chain around it.
      expect(r.output).not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(r.output).not.toContain('Cannot resolve');
      expect(r.output).not.toContain('Initialization error');
    },
    100_000,
  );
});
