import { ModifyDBClusterCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { statePath } from '../../dev/asl-runner';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { allRoles, connectGrantees, masterClient, roleFacts, testPg, uniqueName } from '../support/pg';

let sb: Sandbox;
beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
});
afterEach(() => sb.restore());

const grantsOf = (type: 'role' | 'user', name: string): string[] =>
  sb.aws.iam
    .attachedDocuments(type, name)
    .flatMap((d) => (d as { Statement: Array<{ Resource: string | string[] }> }).Statement)
    .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));

describe('onboarding workflow (statemachines/onboard.asl.json)', () => {
  it('IAM auth already on: creates the user, grants connect, and reports what it did', async () => {
    const roleName = uniqueName('AppRole');
    const principalArn = sb.aws.iam.addRole(roleName);
    const dbUser = roleName;
    const exec = await sb.runner.run('onboard', uniqueName('req'), {
      requestId: 'req-on-1',
      principalArn,
      target: 'orders',
      dbRoles: ['app_read'],
      databases: ['app'],
      reason: 'ticket OPS-1',
    });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    expect(statePath(exec)).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'CreateDbUser', 'AllowConnect', 'Done']);
    const facts = await roleFacts(dbUser);
    expect(facts).toMatchObject({ exists: true, canLogin: true, passwordSet: false });
    expect(facts.memberOf).toEqual(['app_read', 'rds_iam', 'rds_iam_access_managed']);
    expect(JSON.parse(facts.comment as string)).toMatchObject({ managedBy: 'rds-iam-access', createdBy: 'req-on-1', principal: principalArn });
    expect(await connectGrantees('app')).toContain(dbUser);
    const resourceArn = `arn:aws:rds-db:eu-west-1:123456789012:dbuser:${sb.aws.rds.databases.get('instance/orders-db')!.resourceId}/${dbUser}`;
    expect(grantsOf('role', roleName)).toEqual([resourceArn]);
    expect(exec.output).toMatchObject({ requestId: 'req-on-1', dbUser, target: 'orders', dbUserOutcome: 'created', policyOutcome: 'added', resourceArn });
    expect(sb.aws.stubs.rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it('IAM auth off: modifies the instance, waits and polls until applied, then continues', async () => {
    const user = sb.aws.iam.addUser(uniqueName('svc'));
    const name = user.split('/').pop()!;
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-off-1', principalArn: user, target: 'legacy' });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    const path = statePath(exec);
    expect(path.slice(0, 4)).toEqual(['Validate', 'ResolveTarget', 'IsIamAuthOn', 'EnableIamAuth']);
    expect(path.filter((s) => s === 'WaitForIamAuth').length).toBeGreaterThanOrEqual(2);
    expect(path.slice(-3)).toEqual(['CreateDbUser', 'AllowConnect', 'Done']);
    const modify = sb.aws.stubs.rds.commandCalls(ModifyDBInstanceCommand);
    expect(modify.map((c) => c.args[0].input)).toEqual([{ DBInstanceIdentifier: 'legacy-db', EnableIAMDatabaseAuthentication: true, ApplyImmediately: true }]);
    expect(sb.aws.rds.databases.get('instance/legacy-db')!.iamAuthEnabled).toBe(true);
    expect((await roleFacts(name)).memberOf).toContain('rds_iam');
  });

  it('Aurora: uses the cluster resource id and ModifyDBCluster is not needed when on', async () => {
    const roleName = uniqueName('Analyst');
    const principalArn = sb.aws.iam.addRole(roleName, '/team/');
    const dbUser = uniqueName('analyst');
    const exec = await sb.runner.run('onboard', uniqueName('req'), {
      requestId: 'req-aur-1',
      principalArn,
      dbUser,
      target: 'analytics',
      dbRoles: ['reporting'],
    });
    expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
    const clusterId = sb.aws.rds.databases.get('cluster/analytics-cluster')!.resourceId;
    expect(clusterId).toMatch(/^cluster-/);
    expect(grantsOf('role', roleName)).toEqual([`arn:aws:rds-db:eu-west-1:123456789012:dbuser:${clusterId}/${dbUser}`]);
    expect(sb.aws.stubs.rds.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
  });

  it('policy step fails: the role this execution created is rolled back and the error is reported', async () => {
    const roleName = uniqueName('Crowded');
    const principalArn = sb.aws.iam.addRole(roleName);
    // IAM's attached-policy quota is full: the grant cannot be attached.
    for (let p = 0; p < 10; p++) sb.aws.iam.attachForeignPolicy('role', roleName, `${roleName}-other-${p}`, { Version: '2012-10-17', Statement: [] });
    const before = await allRoles();
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-comp-1', principalArn, target: 'orders', databases: ['app'] });
    expect(exec.status).toBe('FAILED');
    expect(exec.error).toBe('GrantLimitReached');
    expect(exec.cause).toContain(principalArn);
    expect(statePath(exec).slice(-3)).toEqual(['AllowConnect', 'CompensateDbUser', 'Failed']);
    expect((await roleFacts(roleName)).exists).toBe(false);
    expect(await connectGrantees('app')).not.toContain(roleName);
    // The marker role may have been created by whichever test ran first; nothing else may differ.
    expect((await allRoles()).filter((r) => !r.includes('rds_iam_access_managed'))).toEqual(before.filter((r) => !r.includes('rds_iam_access_managed')));
  });

  it('a principal IAM does not know fails at validation (its unique id is looked up there) and changes nothing', async () => {
    const roleName = uniqueName('Gone');
    const principalArn = `arn:aws:iam::123456789012:role/${roleName}`; // never created in IAM
    const before = await allRoles();
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: uniqueName('req'), principalArn, target: 'orders' });
    expect(exec).toMatchObject({ status: 'FAILED', error: 'PrincipalNotFound' });
    expect(exec.cause).toContain(roleName);
    expect(statePath(exec)).toEqual(['Validate', 'Failed']);
    expect(await allRoles()).toEqual(before);
  });

  it('unknown target: fails at validation and changes nothing', async () => {
    const roleName = uniqueName('Nobody');
    const principalArn = sb.aws.iam.addRole(roleName);
    const before = await allRoles();
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-unk-1', principalArn, target: 'no-such-target' });
    expect(exec.status).toBe('FAILED');
    expect(exec.error).toBe('UnknownTarget');
    expect(statePath(exec)).toEqual(['Validate', 'Failed']);
    expect(await allRoles()).toEqual(before);
    expect(sb.aws.stubs.rds.calls()).toHaveLength(0);
    expect(sb.aws.stubs.iam.calls()).toHaveLength(0);
  });
});

describe('onboarding workflow: bounds, refusals and throttling', () => {
  it('IAM auth set for the next maintenance window: the wait is bounded and fails clearly, nothing else changed', async () => {
    const roleName = uniqueName('Late');
    const principalArn = sb.aws.iam.addRole(roleName);
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-mw-1', principalArn, target: 'ledger' });
    expect(exec.status).toBe('FAILED');
    expect(exec.error).toBe('IamAuthEnableTimeout');
    expect(exec.cause).toMatch(/maxPolls/);
    const path = statePath(exec);
    expect(path.filter((s) => s === 'PollTarget')).toHaveLength(3); // ledger: maxPolls 3
    expect(path.at(-1)).toBe('IamAuthNotApplied');
    expect(sb.aws.stubs.rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input).toEqual({
      DBInstanceIdentifier: 'ledger-db',
      EnableIAMDatabaseAuthentication: true,
      ApplyImmediately: false,
    });
    expect((await roleFacts(roleName)).exists).toBe(false);
    expect(sb.aws.iam.attachedDocuments('role', roleName)).toEqual([]);
    // Once the window has passed, re-running the same request finishes the job.
    sb.aws.rds.runMaintenanceWindow();
    const again = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-mw-1', principalArn, target: 'ledger' });
    expect(again.status, `${again.error}: ${again.cause}`).toBe('SUCCEEDED');
  });

  it('IAM auth off on a target configured with enable: never fails with IamAuthDisabled and modifies nothing', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Frozen'));
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-never', principalArn, target: 'frozen' });
    expect(exec).toMatchObject({ status: 'FAILED', error: 'IamAuthDisabled' });
    expect(sb.aws.stubs.rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it('an existing password user of the same name: 409-style failure, the role untouched, no policy written', async () => {
    const name = uniqueName('PwUser');
    const principalArn = sb.aws.iam.addRole(name);
    const m = await masterClient();
    await m.query(`CREATE ROLE "${name}" LOGIN PASSWORD 'pw'`);
    await m.end();
    const before = await roleFacts(name);
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-conflict', principalArn, target: 'orders' });
    expect(exec).toMatchObject({ status: 'FAILED', error: 'UnmanagedRoleConflict' });
    expect(statePath(exec).slice(-3)).toEqual(['CreateDbUser', 'CompensateDbUser', 'Failed']);
    expect(await roleFacts(name)).toEqual(before);
    expect(sb.aws.iam.attachedDocuments('role', name)).toEqual([]);
  });

  it('a group role not on the allow-list is refused at validation, before any AWS or database call', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Greedy'));
    const before = await allRoles();
    const exec = await sb.runner.run('onboard', uniqueName('req'), { requestId: 'req-greedy', principalArn, target: 'orders', dbRoles: ['rds_superuser'] });
    expect(exec).toMatchObject({ status: 'FAILED', error: 'RoleNotAllowed' });
    expect(await allRoles()).toEqual(before);
    expect(sb.aws.stubs.rds.calls()).toHaveLength(0);
  });

  it("a burst beyond dbConcurrency waits in the limiter's queue: CreateDbUser is neither throttled nor retried", async () => {
    sb.restore();
    // dbConcurrency 1: the limiter's queue still has 2 slots (an SQS event source's MaximumConcurrency is 2 at least).
    sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 100, dbConcurrency: 1 });
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => {
        const principalArn = sb.aws.iam.addRole(uniqueName(`Burst${i}`));
        return sb.runner.run('onboard', uniqueName('req'), { requestId: `req-burst-${i}`, principalArn, target: 'orders' });
      }),
    );
    expect(runs.map((r) => `${r.status} ${r.error ?? ''}`.trim())).toEqual(runs.map(() => 'SUCCEEDED'));
    expect(sb.runner.stats.peakConcurrency.dbUserCreate).toBe(2);
    expect(sb.runner.stats.throttles.dbUserCreate ?? 0).toBe(0);
    expect(runs.flatMap((r) => r.events).filter((e) => e.type === 'StateRetried' && (e as { state: { name: string } }).state.name === 'CreateDbUser')).toEqual(
      [],
    );
  });

  it('a replayed request id starts no second execution', async () => {
    const principalArn = sb.aws.iam.addRole(uniqueName('Replay'));
    const name = uniqueName('req');
    const first = sb.runner.start('onboard', name, { requestId: name, principalArn, target: 'orders' });
    const second = sb.runner.start('onboard', name, { requestId: name, principalArn, target: 'orders' });
    expect(first.started).toBe(true);
    expect(second.started).toBe(false);
    expect((await second.done).status).toBe('SUCCEEDED');
    expect(sb.runner.stats.invocations.dbUserCreate).toBe(1);
  });
});
