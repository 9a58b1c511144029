/**
 * Shared principals (issue 6, security): on a permission-set role many people share, a statement
 * per person would let every member connect as everyone. The session-tag statement is evaluated
 * here by the IAM policy simulator: a member tagged db_user=alice connects as alice, not as bob.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn, sessionTagConnectResource } from '../functions/lib/arn';
import { renderPolicy } from '../functions/lib/iam/policy-document';
import { createSandbox, type Sandbox } from '../local/sandbox';
import { roleFacts, testPg, uniqueName } from './support/pg';

const ACCOUNT = '123456789012';
const DB = { partition: 'aws' as const, region: 'eu-west-1', accountId: ACCOUNT, resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY1' };
const SHARED_ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_DatabaseUsers_0123456789abcdef/alice@example.com`;

const connects = async (policy: object, dbUser: string, tags: Record<string, string>): Promise<boolean> => {
  const result = await runSimulation(
    {
      request: {
        principal: SHARED_ROLE_SESSION,
        action: 'rds-db:connect',
        resource: { resource: dbUserResourceArn({ ...DB, dbUser }), accountId: ACCOUNT },
        contextVariables: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:PrincipalTag/${k}`, v])),
      },
      identityPolicies: [{ name: 'shared', policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult === 'Allowed';
};

describe('session-tag connect statement for shared principals', () => {
  const policy = renderPolicy([sessionTagConnectResource(DB, 'db_user')]);

  it('names the database user by the principal tag, on exactly this resource', () => {
    expect(sessionTagConnectResource(DB, 'db_user')).toBe(`arn:aws:rds-db:eu-west-1:${ACCOUNT}:dbuser:${DB.resourceId}/\${aws:PrincipalTag/db_user}`);
  });

  it('member A (tag db_user=alice) can connect as alice and not as bob', async () => {
    expect(await connects(policy, 'alice', { db_user: 'alice' })).toBe(true);
    expect(await connects(policy, 'bob', { db_user: 'alice' })).toBe(false);
  });

  it('a member without the tag connects as nobody', async () => {
    expect(await connects(policy, 'alice', {})).toBe(false);
    expect(await connects(policy, 'alice', { other: 'alice' })).toBe(false);
  });

  it('per-person statements on a shared role would let every member connect as everyone (why the tag is needed)', async () => {
    const perPerson = renderPolicy([dbUserResourceArn({ ...DB, dbUser: 'alice' }), dbUserResourceArn({ ...DB, dbUser: 'bob' })]);
    expect(await connects(perPerson, 'bob', { db_user: 'alice' })).toBe(true);
  });

  it('refuses a tag key IAM would not accept', () => {
    expect(() => sessionTagConnectResource(DB, 'db user}')).toThrow(/tagKey/);
  });
});

describe('onboarding through a shared role (sessionTagKey)', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  });
  afterEach(() => sb.restore());

  it('grants the session-tag statement once, never a per-person one; members connect only as themselves', async () => {
    const shared = uniqueName('AWSReservedSSO_DatabaseUsers');
    const roleArn = sb.aws.iam.addRole(shared);
    // Only the shared role the configuration names may get a session-tag statement.
    const idp = { groups: {}, principal: { kind: 'shared', roleArn, tagKey: 'db_user' } };
    process.env.TARGETS_CONFIG = JSON.stringify({ ...sb.config, idp });
    const [alice, bob] = [uniqueName('alice'), uniqueName('bob')];
    for (const dbUser of [alice, bob]) {
      const exec = await sb.runner.run('onboard', uniqueName('sh'), { requestId: uniqueName('sh'), principalArn: roleArn, dbUser, target: 'orders', sessionTagKey: 'db_user' });
      expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
      expect((await roleFacts(dbUser)).exists).toBe(true);
    }
    const grants = sb.aws.iam.connectGrants('role', shared);
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatch(/\/\$\{aws:PrincipalTag\/db_user\}$/);
    const policies = sb.aws.iam.attachedDocuments('role', shared);
    const asAlice = { db_user: alice };
    const resourceId = grants[0].split(':dbuser:')[1].split('/')[0];
    const connectsAs = async (dbUser: string) => {
      const result = await runSimulation(
        {
          request: { principal: SHARED_ROLE_SESSION, action: 'rds-db:connect', resource: { resource: dbUserResourceArn({ ...DB, resourceId, dbUser }), accountId: ACCOUNT }, contextVariables: { 'aws:PrincipalTag/db_user': asAlice.db_user } },
          identityPolicies: policies.map((policy, i) => ({ name: `p${i}`, policy })),
          serviceControlPolicies: [],
          resourceControlPolicies: [],
        },
        {},
      );
      return result.resultType !== 'error' && result.overallResult === 'Allowed';
    };
    expect(await connectsAs(alice)).toBe(true);
    expect(await connectsAs(bob)).toBe(false);
  });

  it('refuses a session-tag statement for any other principal, or another tag key, and grants nothing', async () => {
    const shared = uniqueName('AWSReservedSSO_DatabaseUsers');
    const other = uniqueName('NotShared');
    const idp = { groups: {}, principal: { kind: 'shared', roleArn: sb.aws.iam.addRole(shared), tagKey: 'db_user' } };
    process.env.TARGETS_CONFIG = JSON.stringify({ ...sb.config, idp });
    const otherArn = sb.aws.iam.addRole(other);
    const wrongPrincipal = await sb.runner.run('onboard', uniqueName('sh'), { requestId: uniqueName('sh'), principalArn: otherArn, dbUser: uniqueName('x'), target: 'orders', sessionTagKey: 'db_user' });
    expect(wrongPrincipal.status).toBe('FAILED');
    expect(wrongPrincipal.cause).toContain('idp.principal.roleArn');
    const wrongKey = await sb.runner.run('onboard', uniqueName('sh'), { requestId: uniqueName('sh'), principalArn: idp.principal.roleArn, dbUser: uniqueName('x'), target: 'orders', sessionTagKey: 'team' });
    expect(wrongKey.status).toBe('FAILED');
    expect(wrongKey.cause).toContain('idp.principal.tagKey');
    expect(sb.aws.iam.connectGrants('role', other)).toEqual([]);
    expect(sb.aws.iam.connectGrants('role', shared)).toEqual([]);
  });
});
