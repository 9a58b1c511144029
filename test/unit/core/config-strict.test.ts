/**
 * Configuration is strict (issue 12): every key of every configuration object is known, or the file is refused
 * with the key's path and the known key it most likely meant; wrong types and values, invalid JSON and empty
 * files say where and what. A typo must never fall back to a default: `"enabled": "never"` was dropped, and the
 * default `immediately` let the workflow modify a production instance.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { z } from 'zod';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema, loadConfig, parseConfig } from '../../../functions/lib/core/config';
import { loadConfigFile } from '../../../functions/lib/core/config-file';
import { configErrorMap } from '../../../functions/lib/core/config-issues';
import { ConfigurationError } from '../../../functions/lib/core/errors';
import { closestMatch, editDistance } from '../../../functions/lib/core/suggest';
import { identityStoreFileSchema, loadIdentityStoreFile } from '../../../dev/identity-store-file';
import { loadLocalConfig } from '../../../dev/local-mode';

const ROOT = join(__dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'config-strict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const example = (): Json => JSON.parse(readFileSync(join(ROOT, 'config/targets.example.json'), 'utf8')) as Json;
const DELETE = Symbol('delete');

/** The example configuration with one value set (or deleted) at a dotted path; missing objects on the way are made. */
const exampleWith = (path: string, value: unknown): Json => {
  const config = example();
  const keys = path.split('.');
  let node: Json = config;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Json;
  }
  const last = keys[keys.length - 1];
  if (value === DELETE) delete node[last];
  else node[last] = value;
  return config;
};

/** The problems a configuration is refused with (it must be refused, as a ConfigurationError). */
const problemsOf = (raw: unknown, source?: string): readonly string[] => {
  try {
    parseConfig(raw, source);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    expect((e as ConfigurationError).code).toBe('ConfigurationError');
    return (e as ConfigurationError).problems;
  }
  throw new Error(`accepted: ${JSON.stringify(raw).slice(0, 200)}`);
};

const writeFile = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('suggestions', () => {
  it.each([
    ['enabled', 'enable', 1],
    ['tsl', 'tls', 1],
    ['pollSeconds', 'polSeconds', 1],
    ['kitten', 'sitting', 3],
    ['', 'abc', 3],
    ['same', 'same', 0],
  ])('edit distance %s -> %s is %i (a swap of two letters is one edit)', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  it.each([
    ['enabled', ['enable', 'pollSeconds', 'maxPolls'], 'enable'],
    ['selfservice', ['admins', 'auditors', 'selfService'], 'selfService'],
    ['subnets', ['subnetIds', 'securityGroupIds'], 'subnetIds'],
    ['nevr', ['immediately', 'next-maintenance-window', 'never'], 'never'],
    ['color', ['kind', 'region', 'tls'], undefined],
    ['tls', ['kind'], undefined],
    ['enable', ['enable'], undefined],
  ])('%s among %j suggests %s', (word, candidates, expected) => {
    expect(closestMatch(word, candidates)).toBe(expected);
  });
});

describe('the targets configuration refuses unknown keys with their path and a suggestion', () => {
  it('refuses the issue\'s example instead of dropping it and using the default "immediately"', () => {
    const raw = exampleWith('targets.orders.iamAuth', { enabled: 'never' });
    expect(problemsOf(raw, 'config/targets.prod.json')).toEqual(['targets.orders.iamAuth.enabled: unknown key, did you mean "enable"?']);
    expect(() => parseConfig(raw, 'config/targets.prod.json')).toThrow(
      /^config\/targets\.prod\.json: invalid targets configuration:\n {2}- targets\.orders\.iamAuth\.enabled: unknown key, did you mean "enable"\?$/,
    );
    // The same object with the key spelt right is accepted, and means what it says.
    expect(parseConfig(exampleWith('targets.orders.iamAuth', { enable: 'never' })).targets.orders.iamAuth.enable).toBe('never');
  });

  it.each([
    ['targets.orders.tsl', 'targets.orders.tsl: unknown key, did you mean "tls"?'],
    ['targets.orders.allowedDBRoles', 'targets.orders.allowedDBRoles: unknown key, did you mean "allowedDbRoles"?'],
    ['targets.orders.reassignment.unsafeObject', 'targets.orders.reassignment.unsafeObject: unknown key, did you mean "unsafeObjects"?'],
    ['targets.orders.admin.secretARN', 'targets.orders.admin.secretARN: unknown key, did you mean "secretArn"?'],
    ['targets.analytics.admin.password', 'targets.analytics.admin.password: unknown key (allowed: method, user)'],
    ['target', 'target: unknown key, did you mean "targets"?'],
    ['iam.grantablePrincipal', 'iam.grantablePrincipal: unknown key, did you mean "grantablePrincipals"?'],
    ['iam.grantablePrincipals.tag.Key', 'iam.grantablePrincipals.tag.Key: unknown key, did you mean "key"?'],
    ['api.selfservice', 'api.selfservice: unknown key, did you mean "selfService"?'],
    ['idp.groups.db-analytics.dbroles', 'idp.groups.db-analytics.dbroles: unknown key, did you mean "dbRoles"?'],
    ['idp.principal.arnTemplat', 'idp.principal.arnTemplat: unknown key, did you mean "arnTemplate"?'],
    ['idp.okta.orgURL', 'idp.okta.orgURL: unknown key, did you mean "orgUrl"?'],
    ['idp.identityStoreID', 'idp.identityStoreID: unknown key, did you mean "identityStoreId"?'],
    ['deployment.vpc.subnets', 'deployment.vpc.subnets: unknown key, did you mean "subnetIds"?'],
    ['deployment.oktaEventBus', 'deployment.oktaEventBus: unknown key, did you mean "oktaEventBusName"?'],
    ['deployment.archive.expireAfterDay', 'deployment.archive.expireAfterDay: unknown key, did you mean "expireAfterDays"?'],
    ['deployment.archive.objectLock.retention', 'deployment.archive.objectLock.retention: unknown key (allowed: mode, days)'],
    ['deployment.kms.keyARN', 'deployment.kms.keyARN: unknown key, did you mean "keyArn"?'],
    ['operations.alarmEmails', 'operations.alarmEmails: unknown key, did you mean "alarmEmail"?'],
    ['operations.reconcile.schedul', 'operations.reconcile.schedul: unknown key, did you mean "schedule"?'],
    ['operations.reconcile.repair.removeDanglingGrant', 'operations.reconcile.repair.removeDanglingGrant: unknown key, did you mean "removeDanglingGrants"?'],
  ])('%s', (path, expected) => {
    // objectLock needs its own keys to reach the unknown one.
    const raw = path.startsWith('deployment.archive.objectLock.')
      ? exampleWith('deployment.archive.objectLock', { mode: 'COMPLIANCE', days: 30, retention: 1 })
      : exampleWith(path, 1);
    expect(problemsOf(raw)).toContain(expected);
  });

  it('reports each unknown key of one object on its own line, with everything else that is wrong', () => {
    const raw = exampleWith('targets.orders.iamAuth', { enabled: 'never', polSeconds: 30, maxPolls: 0 });
    expect(problemsOf(raw)).toEqual([
      'targets.orders.iamAuth.maxPolls: must be at least 1, not 0',
      'targets.orders.iamAuth.enabled: unknown key, did you mean "enable"?',
      'targets.orders.iamAuth.polSeconds: unknown key, did you mean "pollSeconds"?',
    ]);
  });

  it('names a key with no near match and lists the allowed ones', () => {
    expect(problemsOf(exampleWith('targets.orders.color', 'red'))).toEqual([
      'targets.orders.color: unknown key (allowed: kind, identifier, region, accountId, allowedDbRoles, ' +
        'allowedDatabases, admin, successorRole, reassignment, adminDatabase, iamAuth, tls, protectedRoles)',
    ]);
  });
});

describe('the targets configuration says where and what for wrong types and values', () => {
  it.each([
    [
      'targets.orders.iamAuth.enable',
      'nevr',
      'targets.orders.iamAuth.enable: must be one of "immediately", "next-maintenance-window", "never", not "nevr"; did you mean "never"?',
    ],
    ['targets.orders.iamAuth.enable', true, 'targets.orders.iamAuth.enable: must be one of "immediately", "next-maintenance-window", "never", not true'],
    ['targets.orders.iamAuth.pollSeconds', '30', 'targets.orders.iamAuth.pollSeconds: must be a number, not "30"'],
    ['targets.orders.iamAuth.pollSeconds', 2.5, 'targets.orders.iamAuth.pollSeconds: must be a whole number, not 2.5'],
    ['targets.orders.iamAuth.pollSeconds', 1, 'targets.orders.iamAuth.pollSeconds: must be at least 5, not 1'],
    ['targets.orders.iamAuth.maxPolls', 20000, 'targets.orders.iamAuth.maxPolls: must be at most 10000, not 20000'],
    ['targets.orders.kind', DELETE, 'targets.orders.kind: is required: one of "instance", "cluster"'],
    ['targets.orders.kind', 'instanse', 'targets.orders.kind: must be one of "instance", "cluster", not "instanse"; did you mean "instance"?'],
    ['targets.orders.admin.method', 'secrets', 'targets.orders.admin.method: must be one of "secret", "iam", not "secrets"; did you mean "secret"?'],
    ['targets.orders.admin', 'secret', 'targets.orders.admin: must be an object, not "secret"'],
    ['targets.orders.tls', 'none', 'targets.orders.tls: must be one of "verify-full", "disable", not "none"'],
    ['targets.orders.allowedDbRoles', 'app_read', 'targets.orders.allowedDbRoles: must be a list, not "app_read"'],
    ['targets.orders.region', 'eu-west', 'targets.orders.region: must be an AWS Region code (got "eu-west")'],
    ['targets.orders.successorRole', DELETE, 'targets.orders.successorRole: is required (a string)'],
    ['targets', DELETE, 'targets: is required (an object)'],
    ['targets.Orders', {}, 'targets.Orders: is not an allowed name: target names are lower-case letters, digits and -'],
    ['api.selfService', 'yes', 'api.selfService: must be true or false, not "yes"'],
    ['dbConcurrency', '10', 'dbConcurrency: must be a number, not "10"'],
    ['idp.principal.kind', 'per-persn', 'idp.principal.kind: must be one of "per-person", "shared", not "per-persn"; did you mean "per-person"?'],
    ['deployment.vpc.subnetIds', [], 'deployment.vpc.subnetIds: must list at least 1 item'],
    ['operations.reconcile.enabled', 'false', 'operations.reconcile.enabled: must be true or false, not "false"'],
  ])('%s = %j', (path, value, expected) => {
    expect(problemsOf(exampleWith(path, value))).toContain(expected);
  });

  it.each([
    ['a list', [], '(root): must be an object, not a list'],
    ['null', null, '(root): must be an object, not null'],
    ['a string', 'targets', '(root): must be an object, not "targets"'],
  ])('refuses %s at the top level', (_, raw, expected) => {
    expect(problemsOf(raw)).toEqual([expected]);
  });

  it('names TARGETS_CONFIG when a function reads it', () => {
    const raw = exampleWith('targets.orders.iamAuth', { enabled: 'never' });
    expect(() => loadConfig({ TARGETS_CONFIG: JSON.stringify(raw) })).toThrow(
      'TARGETS_CONFIG: invalid targets configuration:\n  - targets.orders.iamAuth.enabled: unknown key, did you mean "enable"?',
    );
    expect(() => loadConfig({ TARGETS_CONFIG: '{"targets":' })).toThrow(/^TARGETS_CONFIG: is not JSON/);
    expect(() => loadConfig({})).toThrow(/^TARGETS_CONFIG: is not set/);
  });
});

describe('every configuration object is strict', () => {
  /** Every object schema reachable from `schema`, through wrappers, lists, records and unions. */
  const objectsIn = (schema: z.core.$ZodType, at: string, out: Array<{ at: string; strict: boolean }>): void => {
    const def = schema._zod.def;
    if (schema instanceof z.ZodObject) {
      out.push({ at, strict: schema._zod.def.catchall instanceof z.ZodNever });
      for (const [k, v] of Object.entries(schema.shape as Record<string, z.core.$ZodType>)) objectsIn(v, `${at}.${k}`, out);
    } else if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault || schema instanceof z.ZodNullable) {
      objectsIn((def as unknown as { innerType: z.core.$ZodType }).innerType, at, out);
    } else if (schema instanceof z.ZodArray) {
      objectsIn(schema.element, `${at}[]`, out);
    } else if (schema instanceof z.ZodRecord) {
      objectsIn(schema.valueType, `${at}.*`, out);
    } else if (schema instanceof z.ZodUnion) {
      (schema.options as z.core.$ZodType[]).forEach((o, i) => {
        objectsIn(o, `${at}|${i}`, out);
      });
    }
  };

  it.each([
    ['the targets configuration', configSchema(), 20],
    ['the identity store file', identityStoreFileSchema, 3],
  ] as const)('%s: every object refuses unknown keys', (_, schema, atLeast) => {
    const objects: Array<{ at: string; strict: boolean }> = [];
    objectsIn(schema, '(root)', objects);
    expect(objects.length, 'the walk reached the nested objects').toBeGreaterThanOrEqual(atLeast);
    expect(objects.filter((o) => !o.strict).map((o) => o.at)).toEqual([]);
  });
});

describe('configuration files: the file is named, and invalid JSON says where', () => {
  it.each([
    [
      'a trailing comma',
      '{\n  "targets": {},\n}\n',
      'line 3, column 1: expected a property name in double quotes (a trailing comma before } is not allowed in JSON)',
    ],
    ['a missing comma', '{\n  "targets": {}\n  "api": {}\n}', 'line 3, column 3: expected "," between two entries'],
    ['a comment', '{\n  "targets": {} // mine\n}', 'line 2, column 17: comments are not allowed in JSON'],
    ['single quotes', "{ 'targets': {} }", 'line 1, column 3: unexpected characters'],
    ['a bare word', '{\n  "dbConcurrency": ten\n}', 'line 2, column 20: unexpected characters'],
    ['a truncated file', '{\n  "targets": {\n    "orders": {', 'line 3, column 16: the file ends before the JSON value is complete'],
    ['an unclosed string', '{ "targets": { "orders: {} } }', 'line 1, column 16: a string is not closed'],
    ['text after the value', '{ "targets": {} }\n}', 'line 2, column 1: unexpected text after the end of the JSON value'],
  ])('%s', (what, text, expected) => {
    const file = writeFile(`${what.replace(/\W+/g, '-')}.json`, text);
    expect(() => loadConfigFile(file)).toThrow(`${file}: not valid JSON at ${expected}`);
  });

  it.each([
    ['empty', ''],
    ['only white space', ' \n\t\n'],
  ])('refuses a file that is %s', (what, text) => {
    const file = writeFile(`${what.replace(/\W+/g, '-')}.json`, text);
    expect(() => loadConfigFile(file)).toThrow(`${file}: the file is empty: expected a JSON object`);
  });

  it('refuses a file that does not exist, naming it', () => {
    expect(() => loadConfigFile(join(dir, 'nope.json'))).toThrow(`${join(dir, 'nope.json')}: no such file`);
  });

  it('names the file, relative to the working directory, for a schema problem', () => {
    const file = join(ROOT, '.tmp', `config-strict-${process.pid}.json`);
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    writeFileSync(file, JSON.stringify(exampleWith('targets.orders.iamAuth', { enabled: 'never' })));
    try {
      expect(() => loadConfigFile(file)).toThrow(
        `.tmp/config-strict-${process.pid}.json: invalid targets configuration:\n  - targets.orders.iamAuth.enabled: unknown key, did you mean "enable"?`,
      );
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('reads a file saved with a byte-order mark', () => {
    const file = writeFile('bom.json', `\uFEFF${JSON.stringify(example())}`);
    expect(Object.keys(loadConfigFile(file).targets)).toEqual(['orders', 'analytics']);
  });

  it('local mode names the file too', () => {
    const file = writeFile('local.json', JSON.stringify({ targets: { local: { ...((example().targets as Json).orders as Json), tls: 'disable', tsl: 'x' } } }));
    expect(() => loadLocalConfig(file)).toThrow(`${file}: invalid targets configuration:\n  - targets.local.tsl: unknown key, did you mean "tls"?`);
  });

  it('checks what only a deployment needs when asked to: nothing Lambda would refuse at run time', () => {
    const raw = exampleWith('targets.orders.tls', 'disable');
    delete raw.deployment;
    const file = writeFile('deploy.json', JSON.stringify(raw));
    expect(Object.keys(loadConfigFile(file).targets)).toHaveLength(2);
    expect(() => loadConfigFile(file, { deploying: true })).toThrow(
      `${file}: cannot be deployed:\n  - deployment: is required to deploy (deployment.vpc with subnetIds ` +
        `and securityGroupIds, for the functions that reach PostgreSQL)\n` +
        '  - targets.orders.tls: "disable" is for local mode and tests only; ' +
        'a function in Lambda refuses to connect without TLS (allowed when deploying: "verify-full", ' +
        'the default)',
    );
    const archive = writeFile('archive.json', JSON.stringify(exampleWith('deployment.archive', { transitionToGlacierAfterDays: 400, expireAfterDays: 400 })));
    expect(() => loadConfigFile(archive, { deploying: true })).toThrow(
      'deployment.archive.transitionToGlacierAfterDays: must be less than expireAfterDays (400), not 400',
    );
  });
});

describe('the identity store file of local mode is strict too', () => {
  const store = {
    users: [{ userId: 'u1', userName: 'alice@example.com', status: 'ENABLED', groups: ['g1'] }],
    groups: [{ groupId: 'g1', displayName: 'db-readers' }],
  };
  it.each([
    ['a misspelt key', { ...store, users: [{ ...store.users[0], stauts: 'DISABLED' }] }, 'users.0.stauts: unknown key, did you mean "status"?'],
    [
      'an unknown status',
      { ...store, users: [{ ...store.users[0], status: 'disabled' }] },
      'users.0.status: must be one of "ENABLED", "DISABLED", not "disabled"; did you mean "DISABLED"?',
    ],
    [
      'a group that is not listed',
      { ...store, users: [{ ...store.users[0], groups: ['g2'] }] },
      'users.0.groups.0: "g2" is not the groupId of any entry in groups',
    ],
    ['no groups list', { users: store.users }, 'groups: is required (a list)'],
  ])('refuses %s', (what, data, expected) => {
    const file = writeFile(`store-${what.replace(/\W+/g, '-')}.json`, JSON.stringify(data));
    expect(() => loadIdentityStoreFile(file)).toThrow(`${file}: invalid identity store file:\n  - ${expected}`);
  });

  it('refuses invalid JSON with line and column', () => {
    const file = writeFile('store-bad.json', '{\n  "users": [,]\n}');
    expect(() => loadIdentityStoreFile(file)).toThrow(`${file}: not valid JSON at line 2, column 13`);
  });
});

describe('what is shipped and documented still loads', () => {
  /** Every config/*.json is one of these; a new file must be added here, with the check that fits it. */
  const SHIPPED: Record<string, (file: string) => unknown> = {
    'targets.example.json': (f) => loadConfigFile(f, { deploying: true }),
    'targets.local.json': (f) => loadLocalConfig(f),
    'targets.soak.json': (f) => loadLocalConfig(f),
    'targets.local-approvals.json': (f) => loadLocalConfig(f),
    'identity-store.local.json': (f) => loadIdentityStoreFile(f),
    // CloudFormation fragments that serverless.yml includes as they are: valid JSON is all there is to check.
    'lambda-trust.json': (f) => JSON.parse(readFileSync(f, 'utf8')),
    'vpc-eni-statement.json': (f) => JSON.parse(readFileSync(f, 'utf8')),
    // The reviewed Control Tower exceptions: test/integration/guard.test.ts checks each entry against cfn-guard's findings.
    'guard-exceptions.json': (f) => JSON.parse(readFileSync(f, 'utf8')),
  };

  it('every config/*.json has a check', () => {
    expect(
      readdirSync(join(ROOT, 'config'))
        .filter((f) => f.endsWith('.json'))
        .sort(),
    ).toEqual(Object.keys(SHIPPED).sort());
  });

  it.each(Object.keys(SHIPPED))('config/%s loads', (name) => {
    expect(SHIPPED[name](join(ROOT, 'config', name))).toBeTruthy();
  });

  /**
   * The configuration examples of README and docs: JSON with comments, either a whole file or one top-level
   * section (`"api": {...}`). Set into the example file, each must pass the schema, except for values written
   * as placeholders ("arn:aws:secretsmanager:…"); every key they show must exist.
   */
  const documentedExamples = (): Array<{ where: string; value: Json }> => {
    const sections = Object.keys(configSchema().shape);
    return ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)]
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) => {
        const text = readFileSync(join(ROOT, f), 'utf8');
        return [...text.matchAll(/```jsonc?\n([\s\S]*?)```/g)].flatMap((m) => {
          const body = m[1].trim();
          const where = `${f}:${text.slice(0, m.index).split('\n').length}`;
          const section = /^"(\w+)"\s*:/.exec(body)?.[1];
          if (section && sections.includes(section)) return [{ where, value: parseJsonc(`{${body}}`, [], { allowTrailingComma: true }) as Json }];
          const whole = parseJsonc(body, [], { allowTrailingComma: true }) as unknown;
          return typeof whole === 'object' && whole !== null && 'targets' in whole ? [{ where, value: whole as Json }] : [];
        });
      });
  };

  it('finds the documented examples (the whole file, api, idp, operations)', () => {
    const found = documentedExamples();
    expect(found.length).toBeGreaterThanOrEqual(4);
    expect([...new Set(found.flatMap((e) => Object.keys(e.value)))]).toEqual(expect.arrayContaining(['targets', 'api', 'idp', 'operations', 'deployment']));
  });

  it.each(documentedExamples().map((e) => [e.where, e.value] as const))('%s loads', (_, value) => {
    const raw = { ...example(), ...value };
    const result = configSchema().safeParse(raw, { error: configErrorMap, reportInput: true });
    const placeholder = (v: unknown) => typeof v === 'string' && v.includes('…');
    const real = (result.error?.issues ?? []).filter((i) => !placeholder((i as { input?: unknown }).input));
    expect(real.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
    if (result.success) expect(() => parseConfig(raw)).not.toThrow();
  });
});
