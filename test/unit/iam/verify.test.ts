import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn, parsePrincipalArn } from '../../../functions/lib/core/arn';
import { addConnectGrant, type GrantDeps, removeConnectGrant } from '../../../functions/lib/iam/grants';
import { simulateConnect } from '../../../functions/lib/iam/verify';
import { SimulatedAws } from '../../../dev/simulated-aws';

const ACCOUNT = '123456789012';
const resource = (dbUser: string) =>
  dbUserResourceArn({ partition: 'aws', region: 'eu-west-1', accountId: ACCOUNT, resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY1', dbUser });

describe('simulateConnect: IAM is asked whether the principal may still connect', () => {
  let aws: SimulatedAws;
  let deps: GrantDeps;
  beforeEach(() => {
    aws = new SimulatedAws(ACCOUNT).install();
    deps = {
      iam: new IAMClient({ region: 'us-east-1' }),
      lock: { ddb: new DynamoDBClient({ region: 'eu-west-1' }), table: 'locks' },
      limits: { attachedPoliciesQuota: 10, maxGrantPoliciesPerPrincipal: 4 },
    };
  });
  afterEach(() => aws.restore());

  it("allowed by this project's statement, and no longer once it is removed", async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('alice'));
    await addConnectGrant(deps, principal, resource('alice_db'), 'req-1');
    const granted = await simulateConnect(deps.iam, principal, resource('alice_db'));
    expect(granted.decision).toBe('allowed');
    expect(granted.allowedBy).toHaveLength(1);
    expect(await simulateConnect(deps.iam, principal, resource('someone_else'))).toMatchObject({ decision: 'implicitDeny', allowedBy: [] });

    await removeConnectGrant(deps, principal, resource('alice_db'), 'req-1-end');
    expect(await simulateConnect(deps.iam, principal, resource('alice_db'))).toMatchObject({ decision: 'implicitDeny', allowedBy: [] });
  });

  it('finds a statement this project did not write: a policy anyone attached that allows rds-db:connect on every user', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('bob'));
    aws.iam.attachForeignPolicy('role', 'bob', 'hand-made', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:*:${ACCOUNT}:dbuser:*/*` }],
    });
    const check = await simulateConnect(deps.iam, principal, resource('bob_db'));
    expect(check.decision).toBe('allowed');
    expect(check.allowedBy).toEqual([...aws.iam.policies.values()].filter((p) => p.name === 'hand-made').map((p) => p.id));
  });

  it('an explicit deny wins', async () => {
    const principal = parsePrincipalArn(aws.iam.addRole('carol'));
    await addConnectGrant(deps, principal, resource('carol_db'), 'req-3');
    aws.iam.attachForeignPolicy('role', 'carol', 'deny-all', { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'rds-db:*', Resource: '*' }] });
    expect(await simulateConnect(deps.iam, principal, resource('carol_db'))).toMatchObject({ decision: 'explicitDeny', allowedBy: [] });
  });

  it('a principal IAM does not know can connect as nobody: principalGone, not an error', async () => {
    expect(await simulateConnect(deps.iam, parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:role/nobody`), resource('x'))).toMatchObject({
      decision: 'principalGone',
      allowedBy: [],
    });
  });
});
