/**
 * The hostile-input corpus (issue 10), its configuration part: values an attacker, a confused operator or a typo would
 * put in the targets file. Each is refused as ConfigurationError naming its path (the rest of the corpus, through
 * the API and the real server: test/integration/hostile-input.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/lib/core/config';

const ACCOUNT = '123456789012';

describe('hostile configuration values', () => {
  const target = {
    kind: 'instance',
    identifier: 'orders-db',
    region: 'eu-west-1',
    accountId: ACCOUNT,
    allowedDbRoles: ['app_read'],
    admin: { method: 'secret', secretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:x-AbCdEf` },
    successorRole: 'data_owner',
  };
  const withTarget = (extra: Record<string, unknown>) => ({ targets: { orders: { ...target, ...extra } } });
  const cases: Array<[string, unknown, string]> = [
    ['an upper-case target name', { targets: { Orders: target } }, 'targets'],
    ['a target name with a slash', { targets: { 'a/b': target } }, 'targets'],
    ['a wildcard identifier', withTarget({ identifier: '*' }), 'targets.orders.identifier'],
    ['a region with shell', withTarget({ region: 'eu-west-1; rm -rf /' }), 'targets.orders.region'],
    ['a wildcard account', withTarget({ accountId: '*' }), 'targets.orders.accountId'],
    ['an unknown kind', withTarget({ kind: 'proxy' }), 'targets.orders.kind'],
    ['an allowed role with SQL', withTarget({ allowedDbRoles: ['app; DROP'] }), 'targets.orders.allowedDbRoles.0'],
    ['rds_superuser on the allow-list', withTarget({ allowedDbRoles: ['rds_superuser'] }), 'targets.orders.allowedDbRoles'],
    ['the marker role on the allow-list', withTarget({ allowedDbRoles: ['rds_iam_access_managed'] }), 'targets.orders.allowedDbRoles'],
    ['the successor on the allow-list', withTarget({ allowedDbRoles: ['data_owner'] }), 'targets.orders.allowedDbRoles'],
    ['a database with SQL', withTarget({ allowedDatabases: ['app"'] }), 'targets.orders.allowedDatabases.0'],
    ['rds_superuser as successor', withTarget({ successorRole: 'rds_superuser' }), 'targets.orders.successorRole'],
    ['a secret that is not an ARN', withTarget({ admin: { method: 'secret', secretArn: 'my-secret' } }), 'targets.orders.admin.secretArn'],
    ['an unknown admin method', withTarget({ admin: { method: 'password', password: 'x' } }), 'targets.orders.admin'],
    ['an admin user with SQL', withTarget({ admin: { method: 'iam', user: 'admin"; --' } }), 'targets.orders.admin.user'],
    ['TLS "none"', withTarget({ tls: 'none' }), 'targets.orders.tls'],
    ['iamAuth.enable "always"', withTarget({ iamAuth: { enable: 'always' } }), 'targets.orders.iamAuth.enable'],
    ['pollSeconds 0', withTarget({ iamAuth: { pollSeconds: 0 } }), 'targets.orders.iamAuth.pollSeconds'],
    ['dbConcurrency 0', { ...withTarget({}), dbConcurrency: 0 }, 'dbConcurrency'],
    [
      'an IAM pace that outlives the grant step',
      { ...withTarget({}), iam: { writesPerSecond: 1, grantConcurrency: 20 } },
      'iam: writesPerSecond 1 shared by grantConcurrency 20',
    ],
    ['iam.writesPerSecond 0', { ...withTarget({}), iam: { writesPerSecond: 0 } }, 'iam.writesPerSecond'],
    [
      "idp.startsPerSecond over Step Functions' refill",
      {
        ...withTarget({}),
        idp: { groups: {}, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userName}' }, startsPerSecond: 1000 },
      },
      'idp.startsPerSecond',
    ],
    ['dbConcurrency as a string', { ...withTarget({}), dbConcurrency: '10' }, 'dbConcurrency'],
    ['an admin pattern with a wildcard account', { ...withTarget({}), api: { admins: ['arn:aws:iam::*:role/admin'] } }, 'api.admins.0'],
    ['an admin pattern with a wildcard partition', { ...withTarget({}), api: { admins: [`arn:*:iam::${ACCOUNT}:role/admin`] } }, 'api.admins.0'],
    ['an auditor pattern "*"', { ...withTarget({}), api: { auditors: ['*'] } }, 'api.auditors.0'],
    [
      'a grantable tag key with a space',
      { ...withTarget({}), iam: { grantablePrincipals: { tag: { key: 'a b', value: 'x' } } } },
      'iam.grantablePrincipals.tag.key',
    ],
    [
      'a wildcard permissions boundary',
      { ...withTarget({}), iam: { grantablePrincipals: { permissionsBoundaryArn: '*' } } },
      'iam.grantablePrincipals.permissionsBoundaryArn',
    ],
    ['an unknown grantablePrincipals key', { ...withTarget({}), iam: { grantablePrincipals: { tags: {} } } }, 'iam.grantablePrincipals'],
    [
      'an idp group naming an unconfigured target',
      {
        ...withTarget({}),
        idp: { groups: { g: { targets: ['prod'] } }, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userName}' } },
      },
      'idp.groups.g.targets',
    ],
    [
      'an idp template with an unknown placeholder',
      { ...withTarget({}), idp: { groups: {}, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{email}' } } },
      'idp.principal.arnTemplate',
    ],
    [
      'an Okta org URL over http',
      {
        ...withTarget({}),
        idp: {
          groups: {},
          principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userName}' },
          okta: { orgUrl: 'http://evil.example', apiTokenSecretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:okta-AbCdEf` },
        },
      },
      'idp.okta.orgUrl',
    ],
  ];
  it.each(cases)('%s', (_what, raw, path) => {
    let caught: unknown;
    try {
      parseConfig(raw);
    } catch (e) {
      caught = e;
    }
    expect((caught as Error | undefined)?.name, 'refused as ConfigurationError').toBe('ConfigurationError');
    expect((caught as Error).message).toContain(path);
  });
});
