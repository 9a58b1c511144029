/**
 * Shared principals (issue 6, security): on a permission-set role many people share, a statement
 * per person would let every member connect as everyone. The session-tag statement is evaluated
 * here by the IAM policy simulator: a member tagged db_user=alice connects as alice, not as bob.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { dbUserResourceArn, sessionTagConnectResource } from '../functions/lib/arn';
import { renderPolicy } from '../functions/lib/iam/policy-document';

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
