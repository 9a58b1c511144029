import { describe, expect, it } from 'vitest';
import { heldBeforeOf } from '../../../functions/lib/access/activation';
import type { AccessRequest } from '../../../functions/lib/access/lifecycle';
import { ddl } from '../../../functions/lib/postgres/ddl';

const request = (requestId: string, dbRoles: string[], principal = 'alice'): AccessRequest =>
  ({
    requestId,
    plan: {
      target: 'orders',
      resourceId: 'db-1',
      dbUser: 'alice',
      dbRoles,
      databases: ['app'],
      principalArn: `arn:aws:iam::123456789012:role/${principal}`,
      durationSeconds: 3600,
    },
  }) as AccessRequest;

describe('heldBeforeOf: what the user held before a grant, from what its onboarding had to change', () => {
  it('an existing user: the roles and databases the onboarding did not grant, its login and statement', () => {
    const r = request('b', ['app_read', 'app_write']);
    const statements = [ddl.grantRole('app_write', 'alice').purpose];
    expect(heldBeforeOf(r, { dbUserOutcome: 'updated', statements, policyOutcome: 'already present' }, [])).toEqual({
      dbRoles: ['app_read'],
      databases: ['app'],
      canLogin: true,
      connectStatement: true,
    });
  });

  it('a user this request created holds nothing before it, also when CreateDbUser was retried after its commit', () => {
    const r = request('b', ['app_read']);
    const nothing = { dbRoles: [], databases: [], canLogin: false, connectStatement: false };
    expect(heldBeforeOf(r, { dbUserOutcome: 'created', statements: [], policyOutcome: 'added' }, [])).toEqual(nothing);
    expect(heldBeforeOf(r, { dbUserOutcome: 'already present', dbUserCreatedByThisRequest: true, statements: [], policyOutcome: 'added' }, [])).toEqual(
      nothing,
    );
  });

  it("what another grant of the user gave is not the user's own: its roles, the login, the same principal's statement", () => {
    const r = request('b', ['app_read', 'app_write']);
    const other = request('a', ['app_write']);
    expect(heldBeforeOf(r, { dbUserOutcome: 'already present', statements: [], policyOutcome: 'already present' }, [other])).toEqual({
      dbRoles: ['app_read'],
      databases: [],
      canLogin: false,
      connectStatement: false,
    });
  });
});
