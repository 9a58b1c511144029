/**
 * Shared principals (issue 6, security): on a permission-set role many people share, a statement
 * per person would let every member connect as everyone. The session-tag statement is evaluated
 * here by the IAM policy simulator: a member tagged db_user=alice connects as sso_alice, not as
 * sso_bob, and (issue 10) whatever its tag says, never as a database user outside the prefix
 * reserved for people: not the IAM admin user, not the master user, not an API-made user.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn, sessionTagConnectResource } from '../../functions/lib/core/arn';
import { type Config, parseConfig } from '../../functions/lib/core/config';
import { renderPolicy } from '../../functions/lib/iam/policy-document';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { roleFacts, testPg, uniqueName } from '../support/pg';

const ACCOUNT = '123456789012';
const DB = { partition: 'aws' as const, region: 'eu-west-1', accountId: ACCOUNT, resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY1' };
const SHARED_ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_DatabaseUsers_0123456789abcdef/alice@example.com`;

const connects = async (policies: object[], dbUser: string, tags: Record<string, string>, resourceId = DB.resourceId): Promise<boolean> => {
  const result = await runSimulation(
    {
      request: {
        principal: SHARED_ROLE_SESSION,
        action: 'rds-db:connect',
        resource: { resource: dbUserResourceArn({ ...DB, resourceId, dbUser }), accountId: ACCOUNT },
        contextVariables: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:PrincipalTag/${k}`, v])),
      },
      identityPolicies: policies.map((policy, i) => ({ name: `p${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult === 'Allowed';
};

describe('session-tag connect statement for shared principals', () => {
  const policy = renderPolicy([sessionTagConnectResource(DB, 'db_user', 'sso_')]);

  it('names the database user by the prefix reserved for people and the principal tag, on exactly this resource', () => {
    expect(sessionTagConnectResource(DB, 'db_user', 'sso_')).toBe(
      `arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:${DB.resourceId}/sso_\${aws:PrincipalTag/db_user}`,
    );
  });

  it('member A (tag db_user=alice) can connect as sso_alice and not as sso_bob', async () => {
    expect(await connects([policy], 'sso_alice', { db_user: 'alice' })).toBe(true);
    expect(await connects([policy], 'sso_bob', { db_user: 'alice' })).toBe(false);
  });

  it('a member whose tag names the IAM admin user, or any user outside the prefix, cannot connect as it', async () => {
    for (const victim of ['iam_admin', 'postgres_master', 'reporting_bob', 'alice']) {
      expect(await connects([policy], victim, { db_user: victim }), victim).toBe(false);
    }
  });

  it('a member without the tag connects as nobody', async () => {
    expect(await connects([policy], 'sso_alice', {})).toBe(false);
    expect(await connects([policy], 'sso_alice', { other: 'alice' })).toBe(false);
  });

  it('per-person statements on a shared role would let every member connect as everyone (why the tag is needed)', async () => {
    const perPerson = renderPolicy([dbUserResourceArn({ ...DB, dbUser: 'alice' }), dbUserResourceArn({ ...DB, dbUser: 'bob' })]);
    expect(await connects([perPerson], 'bob', { db_user: 'alice' })).toBe(true);
  });

  it('refuses a tag key IAM would not accept, and a prefix that is not literal', () => {
    expect(() => sessionTagConnectResource(DB, 'db user}', 'sso_')).toThrow(/tagKey/);
    for (const prefix of ['', 'sso_*', 'a?', '${aws:username}']) expect(() => sessionTagConnectResource(DB, 'db_user', prefix), prefix).toThrow(/dbUserPrefix/);
  });
});

describe('onboarding through a shared role (sessionTagKey)', () => {
  let sb: Sandbox;
  let shared: string;
  let roleArn: string;
  /** The sandbox targets with the shared-role mapping, as the workflow's functions read it. */
  const useMapping = (dbUserPrefix: string): Config => {
    const config = parseConfig({
      ...sb.config,
      idp: { groups: {}, principal: { kind: 'shared', roleArn, tagKey: 'db_user', dbUserPrefix }, dbUserTemplate: `${dbUserPrefix}{userNameLocalPart}` },
    });
    process.env.TARGETS_CONFIG = JSON.stringify(config);
    return config;
  };
  const onboard = (dbUser: string, extra: object = { sessionTagKey: 'db_user', idpUser: `identity-center:${dbUser}` }) =>
    sb.runner.run('onboard', uniqueName('sh'), { requestId: uniqueName('sh'), principalArn: roleArn, dbUser, target: 'orders', ...extra });

  beforeEach(() => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
    shared = uniqueName('AWSReservedSSO_DatabaseUsers');
    roleArn = sb.aws.iam.addRole(shared);
  });
  afterEach(() => sb.restore());

  it("grants the prefixed session-tag statement once, never a per-person one; members connect only as their own people's users", async () => {
    useMapping('sso_');
    const [alice, bob] = [uniqueName('sso_alice'), uniqueName('sso_bob')];
    for (const dbUser of [alice, bob]) {
      const exec = await onboard(dbUser);
      expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
      expect((await roleFacts(dbUser)).exists).toBe(true);
    }
    const grants = sb.aws.iam.connectGrants('role', shared);
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatch(/\/sso_\$\{aws:PrincipalTag\/db_user\}$/);
    const policies = sb.aws.iam.attachedDocuments('role', shared);
    const resourceId = grants[0].split(':dbuser:')[1].split('/')[0];
    const tagOf = (dbUser: string) => ({ db_user: dbUser.slice('sso_'.length) });
    expect(await connects(policies, alice, tagOf(alice), resourceId)).toBe(true);
    expect(await connects(policies, bob, tagOf(alice), resourceId)).toBe(false);
    // A member who sets its tag to the master user's name gets sso_postgres_master, which does not exist.
    expect(await connects(policies, testPg().masterUser, { db_user: testPg().masterUser }, resourceId)).toBe(false);
  });

  it('a prefix that reaches the master user (known from RDS only) is refused at the grant; the new user is rolled back', async () => {
    const master = testPg().masterUser;
    const prefix = master.slice(0, master.indexOf('_') + 1);
    expect(prefix.length).toBeGreaterThan(1);
    useMapping(prefix);
    const dbUser = uniqueName(`${prefix}carol`);
    const exec = await onboard(dbUser);
    expect(exec.status).toBe('FAILED');
    expect(`${exec.error} ${exec.cause}`).toContain('ConfigurationError');
    expect(`${exec.cause}`).toContain(master);
    expect(sb.aws.iam.connectGrants('role', shared)).toEqual([]);
    expect((await roleFacts(dbUser)).exists).toBe(false);
  });

  it('only identity-provider runs grant through the shared role, only under its prefix; nothing else is made under the prefix', async () => {
    useMapping('sso_');
    const cases: Array<[string, string, object]> = [
      ['a session-tag grant without the person (not an identity-provider run)', uniqueName('sso_x'), { sessionTagKey: 'db_user' }],
      ['a session-tag grant outside the prefix', uniqueName('iam_admin'), { sessionTagKey: 'db_user', idpUser: 'identity-center:x' }],
      ['another tag key', uniqueName('sso_y'), { sessionTagKey: 'other', idpUser: 'identity-center:y' }],
      ['a per-person statement on the shared role', uniqueName('carol'), {}],
    ];
    for (const [what, dbUser, extra] of cases) {
      const exec = await onboard(dbUser, extra);
      expect(exec.status, what).toBe('FAILED');
      expect(exec.error, what).toBe('ValidationError');
      expect((await roleFacts(dbUser)).exists, what).toBe(false);
    }
    // A database user under the prefix for an ordinary principal: every member could connect as it.
    const other = sb.aws.iam.addRole(uniqueName('dave'));
    const taken = uniqueName('sso_dave');
    const exec = await sb.runner.run('onboard', uniqueName('sh'), { requestId: uniqueName('sh'), principalArn: other, dbUser: taken, target: 'orders' });
    expect(exec.status).toBe('FAILED');
    expect(exec.error).toBe('ProtectedRole');
    expect((await roleFacts(taken)).exists).toBe(false);
    expect(sb.aws.iam.connectGrants('role', shared)).toEqual([]);
  });
});
