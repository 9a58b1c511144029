/**
 * Every step checks what it acts on (issue 10, "Every step checks what it acts on"). These tests invoke the real
 * handlers directly, as someone who can call lambda:InvokeFunction could, with forged state; each forgery must be a
 * typed failure that changes nothing, or be ignored in favour of the configuration and RDS.
 */
import { createServer, type Server } from 'node:net';
import { ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler as connectAllow } from '../../functions/connect-allow';
import { handler as connectRevoke } from '../../functions/connect-revoke';
import { handler as dbUserCreate } from '../../functions/db-user-create';
import { handler as dbUserDeactivate } from '../../functions/db-user-deactivate';
import { handler as dbUserPlan } from '../../functions/db-user-plan';
import { handler as iamAuthEnable } from '../../functions/iam-auth-enable';
import { handler as onboardValidate } from '../../functions/onboard-validate';
import { handler as targetDescribe } from '../../functions/target-describe';
import type { OnboardState } from '../../functions/lib/workflows/steps';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { roleFacts, testPg, uniqueName } from '../support/pg';

let sb: Sandbox;
beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
});
afterEach(() => sb.restore());

/** A genuine onboarding state, as the workflow builds it before CreateDbUser. */
const genuineState = async (target = 'orders', extra: Record<string, unknown> = {}): Promise<OnboardState & { principalName: string }> => {
  const principalName = uniqueName('StepRole');
  const principalArn = sb.aws.iam.addRole(principalName);
  const validated = await onboardValidate({ requestId: uniqueName('req'), principalArn, target, ...extra });
  const db = await targetDescribe({ target: validated.target });
  return { ...validated, db, principalName };
};

const failureOf = async (p: Promise<unknown>): Promise<{ name: string; message: string; details?: unknown }> => {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { details?: unknown };
    return { name: err.name, message: err.message, details: err.details };
  }
  throw new Error('expected the step to fail');
};

/** A TCP listener standing in for a host an attacker controls: counts who connects. */
const listener = async (): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> => {
  let n = 0;
  const server: Server = createServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return { port: address.port, connections: () => n, close: () => new Promise((resolve) => server.close(() => resolve())) };
};

describe('grant step (AllowConnect) invoked directly', () => {
  it('refuses resourceId, region and dbUser set to "*" and writes no policy', async () => {
    const state = await genuineState();
    const forged = { ...state, request: { ...state.request, dbUser: '*' }, db: { ...state.db, resourceId: '*', region: '*', accountId: '*' } };
    const failure = await failureOf(connectAllow(forged));
    expect(failure.name).toBe('ValidationError');
    expect(failure.message).toMatch(/^step input: |db\.resourceId/);
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toEqual([]);
  });

  it('a wildcard resource id alone (valid user name) is refused, naming the field and what RDS reports', async () => {
    const state = await genuineState();
    const failure = await failureOf(connectAllow({ ...state, db: { ...state.db, resourceId: '*' } }));
    expect(failure.name).toBe('ValidationError');
    expect(failure.details).toMatchObject({ field: 'db.resourceId' });
    expect(failure.message).toContain(state.db.resourceId);
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toEqual([]);
  });

  it('takes Region and account from RDS, never from the input: the policy names exactly the RDS resource', async () => {
    const state = await genuineState();
    await connectAllow({ ...state, db: { ...state.db, region: '*', accountId: '*', partition: 'aws' } });
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toEqual([
      `arn:aws:rds-db:eu-west-1:123456789012:dbuser:${state.db.resourceId}/${state.request.dbUser}`,
    ]);
  });

  it('grants to the principal its ARN names, whatever parsed fields the input carries', async () => {
    const state = await genuineState();
    const victim = uniqueName('Victim');
    sb.aws.iam.addRole(victim);
    await connectAllow({ ...state, request: { ...state.request, principal: { ...state.request.principal, name: victim } } });
    expect(sb.aws.iam.connectGrants('role', victim)).toEqual([]);
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toHaveLength(1);
  });

  it('refuses a principal id that is not the one IAM gives the principal now, or not an IAM id at all', async () => {
    const state = await genuineState();
    expect(state.request.principalId).toMatch(/^AROA/);
    const stale = await failureOf(connectAllow({ ...state, request: { ...state.request, principalId: 'AROAOLDROLEOLDROLEOLD' } }));
    expect(stale.name).toBe('PrincipalRecreated');
    const junk = await failureOf(connectAllow({ ...state, request: { ...state.request, principalId: '*' } }));
    expect(junk).toMatchObject({ name: 'ValidationError', details: { field: 'request.principalId' } });
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toEqual([]);
  });

  it('refuses a target that is not configured, and a forged copy of a configured one changes nothing', async () => {
    const state = await genuineState();
    expect((await failureOf(connectAllow({ ...state, target: { ...state.target, name: 'elsewhere' } }))).name).toBe('UnknownTarget');
    expect((await failureOf(connectAllow({ ...state, target: {} as OnboardState['target'] }))).name).toBe('ValidationError');
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toEqual([]);
  });

  it('refuses a session-tag statement for a principal the configuration does not name as shared', async () => {
    const state = await genuineState();
    const failure = await failureOf(connectAllow({ ...state, request: { ...state.request, sessionTagKey: 'db_user' } }));
    expect(failure.name).toBe('ValidationError');
    expect(failure.details).toMatchObject({ field: 'sessionTagKey' });
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toEqual([]);
  });
});

describe('create step (CreateDbUser) invoked directly', () => {
  it('refuses rds_superuser (not on the allow-list) and creates nothing', async () => {
    const state = await genuineState();
    const failure = await failureOf(dbUserCreate({ ...state, request: { ...state.request, dbRoles: ['rds_superuser'] } }));
    expect(failure.name).toBe('RoleNotAllowed');
    expect((await roleFacts(state.request.dbUser)).exists).toBe(false);
  });

  it('ignores a forged copy of the target: its allow-list is the configuration, not the input', async () => {
    const state = await genuineState();
    const forgedTarget = { ...state.target, allowedDbRoles: ['rds_superuser'], protectedRoles: [] };
    const failure = await failureOf(dbUserCreate({ ...state, target: forgedTarget, request: { ...state.request, dbRoles: ['rds_superuser'] } }));
    expect(failure.name).toBe('RoleNotAllowed');
    expect((await roleFacts(state.request.dbUser)).exists).toBe(false);
  });

  it('refuses a database outside allowedDatabases and protected names', async () => {
    const state = await genuineState();
    expect((await failureOf(dbUserCreate({ ...state, request: { ...state.request, databases: ['template1'] } }))).name).toBe('DatabaseNotAllowed');
    expect((await failureOf(dbUserCreate({ ...state, request: { ...state.request, dbUser: 'data_owner' } }))).name).toBe('ProtectedRole');
    expect((await failureOf(dbUserCreate({ ...state, request: { ...state.request, dbUser: 'postgres_master' } }))).name).toBe('ProtectedRole');
    expect((await roleFacts(state.request.dbUser)).exists).toBe(false);
  });

  it('connects to the endpoint RDS reports, never to a host from the input (the admin password goes there)', async () => {
    const state = await genuineState();
    const trap = await listener();
    try {
      const out = await dbUserCreate({ ...state, db: { ...state.db, host: '127.0.0.1', port: trap.port } });
      expect(out.outcome).toBe('created');
      expect(trap.connections()).toBe(0);
      expect((await roleFacts(state.request.dbUser)).exists).toBe(true);
    } finally {
      await trap.close();
    }
  });

  it('a target replaced since the run resolved it (new resource id) is refused before any change', async () => {
    const state = await genuineState();
    sb.aws.rds.databases.get('instance/orders-db')!.resourceId = 'db-REPLACEDREPLACEDREPLACED1';
    const failure = await failureOf(dbUserCreate(state));
    expect(failure.name).toBe('ValidationError');
    expect(failure.message).toContain('db-REPLACEDREPLACEDREPLACED1');
    expect((await roleFacts(state.request.dbUser)).exists).toBe(false);
  });
});

describe('executions started before a redeploy', () => {
  it('the grant and revoke steps of an older definition (no target in their input) still finish, on the configured target RDS confirms', async () => {
    const state = await genuineState();
    await dbUserCreate(state);
    const { target: _target, ...older } = state;
    const out = await connectAllow(older as never);
    expect(out.outcome).toBe('added');
    expect(sb.aws.iam.connectGrants('role', state.principalName)).toHaveLength(1);
    const revoked = await connectRevoke({
      request: { requestId: uniqueName('off'), dbUser: state.request.dbUser, principal: state.request.principal },
      db: state.db,
    } as never);
    expect(revoked.removals).toMatchObject([{ outcome: 'removed' }]);
    // Without a target, a db naming no configured target is refused.
    expect((await failureOf(connectAllow({ ...older, db: { ...state.db, identifier: 'elsewhere-db' } } as never))).name).toBe('ValidationError');
  });
});

describe('other steps invoked directly', () => {
  it('EnableIamAuth follows the configured mode ("never"), not one in the input', async () => {
    const target = { ...(await onboardValidate({ requestId: uniqueName('req'), principalArn: sb.aws.iam.addRole(uniqueName('R')), target: 'frozen' })).target };
    const failure = await failureOf(iamAuthEnable({ target: { ...target, iamAuth: { ...target.iamAuth, enable: 'immediately' } } as never }));
    expect(failure.name).toBe('IamAuthDisabled');
    expect(sb.aws.stubs.rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it('ResolveTarget describes the configured identifier, not one in the input', async () => {
    const out = await targetDescribe({ target: { name: 'orders', identifier: 'frozen-db' } as never });
    expect(out.identifier).toBe('orders-db');
  });

  it('offboarding steps refuse protected names and forged resource ids, and change nothing', async () => {
    const state = await genuineState();
    await dbUserCreate(state);
    const offboard = { request: { requestId: uniqueName('off'), dbUser: state.request.dbUser }, target: state.target, db: state.db };
    expect((await failureOf(dbUserDeactivate({ ...offboard, request: { ...offboard.request, dbUser: 'data_owner' } }))).name).toBe('ProtectedRole');
    expect((await failureOf(dbUserDeactivate({ ...offboard, db: { ...state.db, resourceId: 'db-OTHER' } }))).name).toBe('ValidationError');
    expect((await failureOf(connectRevoke({ ...offboard, db: { ...state.db, resourceId: '*' } }))).name).toBe('ValidationError');
    expect((await roleFacts(state.request.dbUser)).canLogin).toBe(true);
  });

  it("the dry-run function connects to the endpoint RDS reports, not the invoker's host and port", async () => {
    const state = await genuineState();
    const trap = await listener();
    try {
      const answer = await dbUserPlan({ kind: 'onboarding', state: { ...state, db: { ...state.db, host: '127.0.0.1', port: trap.port } } });
      expect(answer).toHaveProperty('result');
      expect(trap.connections()).toBe(0);
      const forged = await dbUserPlan({ kind: 'review', state: { target: state.target, db: { ...state.db, resourceId: '*' } }, dbUsers: [] });
      expect(forged).toMatchObject({ error: { error: 'ValidationError' } });
    } finally {
      await trap.close();
    }
  });
});

describe('iam.grantablePrincipals', () => {
  it('only principals with the configured tag and permissions boundary are onboarded; others are refused at Validate, nothing created', async () => {
    const boundary = 'arn:aws:iam::123456789012:policy/developer-boundary';
    process.env.TARGETS_CONFIG = JSON.stringify({
      ...sb.config,
      iam: { ...sb.config.iam, grantablePrincipals: { tag: { key: 'rds-iam-access', value: 'grantable' }, permissionsBoundaryArn: boundary } },
    });
    const cases: Array<[string, Record<string, string> | undefined, string | undefined, boolean]> = [
      ['tagged, with the boundary', { 'rds-iam-access': 'grantable' }, boundary, true],
      ['untagged', undefined, boundary, false],
      ['tag with another value', { 'rds-iam-access': 'yes' }, boundary, false],
      ['without the boundary', { 'rds-iam-access': 'grantable' }, undefined, false],
    ];
    for (const [what, tags, permissionsBoundaryArn, ok] of cases) {
      const name = uniqueName('Grantable');
      const principalArn = sb.aws.iam.addRole(name, '/', { ...(tags ? { tags } : {}), ...(permissionsBoundaryArn ? { permissionsBoundaryArn } : {}) });
      const exec = await sb.runner.run('onboard', uniqueName('g'), { requestId: uniqueName('g'), principalArn, target: 'orders' });
      expect(exec.status, what).toBe(ok ? 'SUCCEEDED' : 'FAILED');
      if (!ok) {
        expect(exec.error, what).toBe('NotAuthorized');
        expect(exec.cause, what).toContain('iam.grantablePrincipals');
      }
      expect((await roleFacts(name)).exists, what).toBe(ok);
      expect(sb.aws.iam.connectGrants('role', name).length, what).toBe(ok ? 1 : 0);
    }
  });
});
