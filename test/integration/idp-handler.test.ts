/**
 * Identity-provider events end to end: the documented example events (test/fixtures/idp) through
 * the idp handler, executions started in the (simulated) Step Functions and run through the real
 * ASL against a real PostgreSQL server; the directory says what the provider shows now.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreatePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { RDSClient } from '@aws-sdk/client-rds';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbUserResourceArn, parsePrincipalArn } from '../../functions/lib/core/arn';
import { type Config, parseConfig, resolveTargetConfig } from '../../functions/lib/core/config';
import { listGrantPolicies } from '../../functions/lib/iam/grants';
import { grantPolicyName, POLICY_PATH, renderPolicy } from '../../functions/lib/iam/policy-document';
import { describeTarget } from '../../functions/lib/rds/target';
import { grantsOnTarget, reviewTarget } from '../../functions/lib/review/access-review';
import type { Person } from '../../functions/lib/idp/directory';
import { handleIdentityEvent, type IdpDeps } from '../../functions/lib/idp/handle';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { SimulatedLambda, SimulatedStepFunctions } from '../../dev/simulated-services';
import { FUNCTIONS } from '../../dev/functions';
import { lambdaDatabasePlanner } from '../../functions/lib/api/plan-client';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { roleFacts, testPg, uniqueName } from '../support/pg';

const READERS = 'c4e8a4d8-2051-70b3-1f0e-9a8b7c6d5e40';
const WRITERS = 'a1b2c3d4-0000-7000-8000-000000000001';
const ALICE = 'f4a8b4c8-0011-7045-9a2b-3c4d5e6f7a81';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(__dirname, '../fixtures/idp', `${name}.json`), 'utf8')) as Record<string, unknown>;
/** The same event as a new occurrence (a new CloudTrail event id), for a second change of the same kind. */
const again = (e: Record<string, unknown>, eventID: string) => ({ ...e, detail: { ...(e.detail as object), eventID } });

let sb: Sandbox;
let sfn: SimulatedStepFunctions;
let sfnStub: { restore: () => void };
let lambdaStub: { restore: () => void };
let people: Map<string, Person>;
let deps: IdpDeps;
let name: string;

beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  sfn = new SimulatedStepFunctions(sb.runner, { region: 'eu-west-1', accountId: '123456789012', stage: 'idp' });
  sfnStub = sfn.install();
  lambdaStub = new SimulatedLambda(FUNCTIONS).install();
  people = new Map();
  name = uniqueName('idpuser');
  const config: Config = parseConfig({
    ...sb.config,
    idp: {
      groups: {
        [READERS]: { targets: ['orders'], dbRoles: ['app_read'] },
        [WRITERS]: { targets: ['orders'], dbRoles: ['app_write'] },
        'db-orders-readers': { targets: ['orders'], dbRoles: ['app_read'] },
      },
      principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/{userNameLocalPart}' },
      dbUserTemplate: '{userNameLocalPart}',
    },
  });
  deps = {
    config,
    executions: { sfn: new SFNClient({ region: 'eu-west-1' }), stateMachines: { onboarding: sfn.arns.onboard, offboarding: sfn.arns.offboard } },
    // Identity Center's store is simulated here; Okta runs without its API (the event alone).
    directoryFor: (c) =>
      c.source === 'okta'
        ? undefined
        : {
            person: async (u) => people.get(u.id),
            everyone: async (groups) =>
              new Map(
                [...people.values()]
                  .map(
                    (p): Person => ({ ...p, groups: p.groups.filter((x) => groups.some((g) => g.id === x.id || (g.name !== undefined && g.name === x.name))) }),
                  )
                  .filter((p) => p.groups.length > 0)
                  .map((p) => [p.userId, p]),
              ),
          },
    iam: new IAMClient({}),
    rds: (region) => new RDSClient({ region }),
    database: lambdaDatabasePlanner(new LambdaClient({}), 'dbUserPlan'),
  };
  sb.aws.iam.addRole(name);
});
afterEach(() => {
  sfnStub.restore();
  lambdaStub.restore();
  sb.restore();
});

const alice = (groups: string[], active = true): void => {
  people.set(ALICE, { userId: ALICE, userName: `${name}@example.com`, active, groups: groups.map((id) => ({ id })) });
};
const handle = async (event: unknown) => {
  const outcome = await handleIdentityEvent(deps, event);
  await sb.runner.idle();
  for (const e of outcome.executions) {
    const r = sb.runner.find(e.kind === 'onboarding' ? 'onboard' : 'offboard', e.requestId);
    expect(r?.status, `${e.requestId}: ${r?.error} ${r?.cause}`).toBe('SUCCEEDED');
  }
  return outcome;
};

describe('identity-provider events', () => {
  it('a mapped add onboards: the right input, requested by the provider, the user in PostgreSQL and IAM', async () => {
    alice([READERS]);
    const outcome = await handle(fixture('identitycenter-console-add-member-to-group'));
    expect(outcome.executions).toEqual([expect.objectContaining({ kind: 'onboarding', target: 'orders', dbUser: name, started: true })]);
    const run = sb.runner.find('onboard', outcome.executions[0].requestId);
    expect(run?.input).toMatchObject({
      principalArn: `arn:aws:iam::123456789012:role/${name}`,
      dbUser: name,
      target: 'orders',
      dbRoles: ['app_read'],
      requestedBy: 'idp:identity-center',
    });
    expect((run!.input as { reason: string }).reason).toContain('membership-added');
    expect((await roleFacts(name)).memberOf).toContain('app_read');
    expect(sb.aws.iam.connectGrants('role', name)).toHaveLength(1);
  });

  it('duplicate delivery (and a Region-replicated copy) starts one execution', async () => {
    alice([READERS]);
    const event = fixture('identitycenter-console-add-member-to-group');
    const first = await handle(event);
    const second = await handle({ ...event, id: 'another-delivery', region: 'us-west-2' });
    expect(second.executions.map((e) => [e.requestId, e.started])).toEqual([[first.executions[0].requestId, false]]);
    expect([...sb.runner.executions.keys()].filter((k) => k.startsWith('onboard/'))).toHaveLength(1);
  });

  it('two groups granting the same target: kept until both are removed', async () => {
    alice([READERS, WRITERS]);
    await handle(fixture('identitycenter-console-add-member-to-group'));
    expect((await roleFacts(name)).memberOf).toEqual(expect.arrayContaining(['app_read', 'app_write']));

    alice([WRITERS]);
    const keep = await handle(fixture('identitycenter-console-remove-member-from-group'));
    expect(keep.executions.map((e) => e.kind)).toEqual(['onboarding']);
    // Kept, with what the remaining group grants: the left group's role is taken away.
    const kept = await roleFacts(name);
    expect(kept).toMatchObject({ exists: true, canLogin: true });
    expect(kept.memberOf).toContain('app_write');
    expect(kept.memberOf).not.toContain('app_read');

    alice([]);
    const gone = await handle(again(fixture('identitycenter-console-remove-member-from-group'), 'second-removal'));
    expect(gone.executions.map((e) => e.kind)).toEqual(['offboarding']);
    expect((await roleFacts(name)).exists).toBe(false);
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
  });

  it('deactivation offboards; an add that arrives for a deactivated user ends offboarded too', async () => {
    alice([READERS]);
    await handle(fixture('identitycenter-console-add-member-to-group'));
    alice([READERS], false);
    const off = await handle(fixture('identitycenter-console-disable-user'));
    // (Database users earlier tests created for the same person are offboarded too: recorded as alice's.)
    expect(off.executions.filter((e) => e.dbUser === name).map((e) => e.kind)).toEqual(['offboarding']);
    expect((await roleFacts(name)).exists).toBe(false);
    const late = await handle(again(fixture('identitycenter-console-add-member-to-group'), 'late-add'));
    expect(late.executions.map((e) => e.kind)).toEqual(['offboarding']);
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('records the person with the database user; a deleted user the directory no longer knows is still offboarded', async () => {
    alice([READERS]);
    await handle(fixture('identitycenter-console-add-member-to-group'));
    expect(JSON.parse((await roleFacts(name)).comment as string)).toMatchObject({ idpUser: `identity-center:${ALICE}` });
    people.delete(ALICE);
    const outcome = await handle(fixture('identitycenter-console-delete-user'));
    expect(outcome.executions.filter((e) => e.dbUser === name).map((e) => e.kind)).toEqual(['offboarding']);
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('DeleteGroupMembership (the membership id only): the store is asked about everyone with database users', async () => {
    alice([READERS]);
    await handle(fixture('identitycenter-console-add-member-to-group'));
    alice([]);
    const outcome = await handle(fixture('identitystore-delete-group-membership'));
    expect(outcome.executions.filter((e) => e.dbUser === name).map((e) => e.kind)).toEqual(['offboarding']);
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('an Identity Store notification reconciles the mapping: members without their user onboarded, users whose grants are gone offboarded', async () => {
    const notification = (detailType: string, id: string) => ({
      version: '0',
      id,
      'detail-type': detailType,
      source: 'aws.identitystore',
      account: '123456789012',
      time: '2026-11-23T10:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: {},
    });
    alice([READERS]);
    const created = await handle(notification('Group Membership Created', uniqueName('n')));
    expect(created.executions.filter((e) => e.dbUser === name).map((e) => e.kind)).toEqual(['onboarding']);
    expect((await roleFacts(name)).exists).toBe(true);
    // Nothing to do when nothing changed.
    expect((await handle(notification('User Updated', uniqueName('n')))).executions.filter((e) => e.dbUser === name)).toEqual([]);
    people.delete(ALICE);
    const deleted = await handle(notification('User Deleted', uniqueName('n')));
    expect(deleted.executions.filter((e) => e.dbUser === name).map((e) => e.kind)).toEqual(['offboarding']);
    expect((await roleFacts(name)).exists).toBe(false);
  });

  /** Every sandbox target is the same PostgreSQL server: principal deletion looks at one, as a deployment with one target per server does. */
  const ordersOnly = (): void => {
    deps = { ...deps, config: { ...deps.config, targets: { orders: deps.config.targets.orders } } };
  };
  const roleDeleted = (roleName: string) => {
    const event = fixture('iam-delete-role');
    return { ...event, detail: { ...(event.detail as object), eventID: uniqueName('delete'), requestParameters: { roleName } } };
  };
  const onboard = async (principalArn: string, dbUser: string) =>
    sb.runner.run('onboard', uniqueName('pre'), { requestId: uniqueName('pre'), principalArn, dbUser, target: 'orders' });
  const connectArn = (dbUser: string) =>
    dbUserResourceArn({
      partition: 'aws',
      region: 'eu-west-1',
      accountId: '123456789012',
      resourceId: sb.aws.rds.databases.get('instance/orders-db')!.resourceId,
      dbUser,
    });

  it('IAM DeleteRole offboards every database user recorded for that role', async () => {
    ordersOnly();
    const role = uniqueName('DeletedRole');
    const arn = sb.aws.iam.addRole(role);
    for (const dbUser of [uniqueName('svc_a'), uniqueName('svc_b')]) expect((await onboard(arn, dbUser)).status).toBe('SUCCEEDED');
    sb.aws.iam.deletePrincipal('role', role);
    const outcome = await handle(roleDeleted(role));
    expect(outcome.executions.map((e) => [e.kind, e.target])).toEqual([
      ['offboarding', 'orders'],
      ['offboarding', 'orders'],
    ]);
    for (const e of outcome.executions) expect((await roleFacts(e.dbUser)).exists).toBe(false);
  });

  it(
    'attack: a policy planted with iam:CreatePolicy only, named and described like ours for a throwaway ' +
      'role, cannot offboard the victim by deleting that role',
    async () => {
      ordersOnly();
      const victimRole = uniqueName('Victim');
      const victimArn = sb.aws.iam.addRole(victimRole);
      const victim = uniqueName('victim');
      expect((await onboard(victimArn, victim)).status).toBe('SUCCEEDED');
      // The attacker: a throwaway role, and a policy under our path listing the victim's database user.
      const throwaway = uniqueName('Throwaway');
      const throwawayArn = sb.aws.iam.addRole(throwaway);
      const plantedName = grantPolicyName(parsePrincipalArn(throwawayArn), 0);
      const planted = await new IAMClient({}).send(
        new CreatePolicyCommand({
          PolicyName: plantedName,
          Path: POLICY_PATH,
          PolicyDocument: JSON.stringify(renderPolicy([connectArn(victim)])),
          Description: `rds-db:connect grants of ${throwawayArn}, managed by rds-iam-access. Do not edit by hand.`,
        }),
      );
      sb.aws.iam.deletePrincipal('role', throwaway);
      const outcome = await handle(roleDeleted(throwaway));
      expect(outcome.executions).toEqual([]);
      expect(await roleFacts(victim)).toMatchObject({ exists: true, canLogin: true });
      expect(sb.aws.iam.connectGrants('role', victimRole)).toEqual([connectArn(victim)]);

      // The access review shows the planted policy, as not the project's.
      const target = resolveTargetConfig(deps.config, 'orders');
      const db = await describeTarget(new RDSClient({ region: 'eu-west-1' }), target);
      const grants = grantsOnTarget(await listGrantPolicies(new IAMClient({})), db);
      const review = reviewTarget(target, db, await deps.database.review({ target, db }, [...new Set(grants.map((g) => g.dbUser))]), grants);
      const flagged = review.grants.find((g) => g.policyArn === planted.Policy?.Arn);
      expect(flagged).toMatchObject({ dbUser: victim, flags: expect.arrayContaining(['not-project-policy', 'unattached-policy']) });
      expect(flagged?.principalArn).toBeUndefined();
      // The victim's own grant is the project's, for the victim.
      expect(review.grants.find((g) => g.dbUser === victim && g.policyArn !== planted.Policy?.Arn)).toMatchObject({ principalArn: victimArn, flags: [] });
    },
  );

  it(
    'a role deleted and created again under its name (new RoleId) does not inherit the old database ' + "user; deletions offboard each incarnation's own users",
    async () => {
      ordersOnly();
      const role = uniqueName('Reborn');
      const arn = sb.aws.iam.addRole(role);
      const firstId = sb.aws.iam.idOf('role', role);
      const old = uniqueName('old');
      expect((await onboard(arn, old)).status).toBe('SUCCEEDED');
      expect(JSON.parse((await roleFacts(old)).comment as string)).toMatchObject({ principal: arn, principalId: firstId });

      // Deleted and created again; the DeleteRole event is late.
      sb.aws.iam.deletePrincipal('role', role);
      sb.aws.iam.addRole(role);
      const secondId = sb.aws.iam.idOf('role', role);
      expect(secondId).not.toBe(firstId);
      const before = await roleFacts(old);
      const takeover = await onboard(arn, old);
      expect(takeover).toMatchObject({ status: 'FAILED', error: 'PrincipalRecreated' });
      expect(takeover.cause).toContain('Offboard the old database user first');
      expect(await roleFacts(old)).toEqual(before);
      expect(sb.aws.iam.connectGrants('role', role)).toEqual([]);

      // The new role gets a database user of its own.
      const fresh = uniqueName('fresh');
      expect((await onboard(arn, fresh)).status).toBe('SUCCEEDED');
      expect(JSON.parse((await roleFacts(fresh)).comment as string)).toMatchObject({ principalId: secondId });

      // The late event of the first deletion: the role of that name now is the new one, whose user stays.
      const late = await handle(roleDeleted(role));
      expect(late.executions.map((e) => [e.kind, e.dbUser])).toEqual([['offboarding', old]]);
      expect((await roleFacts(old)).exists).toBe(false);
      expect(await roleFacts(fresh)).toMatchObject({ exists: true, canLogin: true });
      expect(sb.aws.iam.connectGrants('role', role)).toEqual([connectArn(fresh)]);

      // The new role deleted: its own user goes.
      sb.aws.iam.deletePrincipal('role', role);
      const gone = await handle(roleDeleted(role));
      expect(gone.executions.map((e) => [e.kind, e.dbUser])).toEqual([['offboarding', fresh]]);
      expect((await roleFacts(fresh)).exists).toBe(false);
    },
  );

  it('Okta: an add onboards the person (recorded as theirs), a deactivation offboards exactly what was recorded for them', async () => {
    const asOkta = (f: string) => {
      const e = fixture(f);
      const d = e.detail as { target: Array<Record<string, unknown>>; uuid: string };
      return {
        ...e,
        detail: {
          ...d,
          uuid: `${d.uuid}-${name}`,
          target: d.target.map((t) => (t.type === 'User' ? { ...t, id: `00u-${name}`, alternateId: `${name}@example.com` } : t)),
        },
      };
    };
    const add = await handle(asOkta('okta-group-user-membership-add'));
    expect(add.executions.map((e) => [e.kind, e.dbUser])).toEqual([['onboarding', name]]);
    expect(JSON.parse((await roleFacts(name)).comment as string)).toMatchObject({ idpUser: `okta:00u-${name}` });
    const off = await handle(asOkta('okta-user-lifecycle-deactivate'));
    expect(off.executions.map((e) => [e.kind, e.dbUser])).toEqual([['offboarding', name]]);
    expect((await roleFacts(name)).exists).toBe(false);
  });

  it('a templated name is not proof: a database user of the same name created for someone else is never taken over or dropped', async () => {
    // An administrator created it through the API for a service role.
    const service = sb.aws.iam.addRole(uniqueName('SvcRole'));
    const pre = await sb.runner.run('onboard', uniqueName('svc'), { requestId: uniqueName('svc'), principalArn: service, dbUser: name, target: 'orders' });
    expect(pre.status).toBe('SUCCEEDED');
    alice([READERS]);
    const outcome = await handleIdentityEvent(deps, fixture('identitycenter-console-add-member-to-group'));
    await sb.runner.idle();
    const run = sb.runner.find('onboard', outcome.executions[0].requestId);
    expect(run).toMatchObject({ status: 'FAILED', error: 'NotAuthorized' });
    expect(sb.aws.iam.connectGrants('role', name)).toEqual([]);
    // Offboarding by the templated name is refused the same way.
    alice([]);
    const removal = await handleIdentityEvent(deps, fixture('identitycenter-console-remove-member-from-group'));
    await sb.runner.idle();
    expect(sb.runner.find('offboard', removal.executions[0].requestId)).toMatchObject({ status: 'FAILED', error: 'NotAuthorized' });
    expect(await roleFacts(name)).toMatchObject({ exists: true, canLogin: true });
  });

  it("without a directory, DeleteGroupMembership offboards nobody (nobody's current groups are known)", async () => {
    alice([READERS]);
    await handle(fixture('identitycenter-console-add-member-to-group'));
    deps = { ...deps, directoryFor: () => undefined };
    expect((await handle(fixture('identitystore-delete-group-membership'))).executions).toEqual([]);
    expect((await roleFacts(name)).exists).toBe(true);
  });

  it('an unmapped group, an irrelevant event: nothing started, a reason', async () => {
    alice([READERS]);
    const unmapped = fixture('identitycenter-console-add-member-to-group');
    const other = await handle({
      ...unmapped,
      detail: { ...(unmapped.detail as { requestParameters: object }), requestParameters: { groupId: 'not-mapped', member: { memberId: ALICE } } },
    });
    expect(other).toMatchObject({ executions: [] });
    const ignored = await handle({ ...unmapped, detail: { ...(unmapped.detail as object), eventName: 'UpdateGroup' } });
    expect(ignored).toEqual({ ignored: 'sso-directory UpdateGroup does not change database access', executions: [] });
  });

  it('a malformed event fails with the reason (Lambda then sends it to the dead-letter queue), starting nothing', async () => {
    await expect(
      handleIdentityEvent(deps, {
        source: 'aws.sso-directory',
        'detail-type': 'AWS API Call via CloudTrail',
        detail: { eventName: 'AddMemberToGroup', eventID: 'x', requestParameters: {} },
      }),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('memberId'),
    });
    expect(sb.runner.executions.size).toBe(0);
  });
});
