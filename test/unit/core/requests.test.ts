import { describe, expect, it } from 'vitest';
import { dbUserResourceArn, parsePrincipalArn } from '../../../functions/lib/core/arn';
import { type Config, parseConfig } from '../../../functions/lib/core/config';
import { type ErrorCode, invalid, isProvisioningError, ProvisioningError, RETRYABLE_CODES } from '../../../functions/lib/core/errors';
import { MAX_IDENTIFIER_BYTES, validateDbUser } from '../../../functions/lib/core/identifiers';
import { validateOnboardRequest } from '../../../functions/lib/core/requests';

const ACCOUNT = '123456789012';

const config: Config = parseConfig({
  targets: {
    orders: {
      kind: 'instance',
      identifier: 'orders-db',
      region: 'eu-west-1',
      accountId: ACCOUNT,
      allowedDbRoles: ['app_read', 'app_write'],
      allowedDatabases: ['app', 'reporting'],
      successorRole: 'data_owner',
      admin: { method: 'iam', user: 'provisioner' },
    },
    beijing: {
      kind: 'instance',
      identifier: 'orders-cn',
      region: 'cn-north-1',
      accountId: ACCOUNT,
      allowedDbRoles: ['app_read'],
      successorRole: 'data_owner',
      admin: { method: 'iam', user: 'provisioner' },
    },
    govcloud: {
      kind: 'cluster',
      identifier: 'ledger-gov',
      region: 'us-gov-west-1',
      accountId: ACCOUNT,
      allowedDbRoles: ['app_read'],
      successorRole: 'data_owner',
      admin: { method: 'secret', secretArn: 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:rds!cluster-abc-123456' },
    },
  },
});

const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/teams/payments/PaymentsReader`;
const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/jane.doe@example.com`;

const request = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  requestId: 'req-0001',
  principalArn: ROLE_ARN,
  target: 'orders',
  ...overrides,
});

/** Runs validation that must fail with a ProvisioningError of `code`, and returns the error. */
const failure = (input: unknown, code: ErrorCode): ProvisioningError => {
  let caught: unknown;
  try {
    validateOnboardRequest(input, config);
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected validation to fail').toBeInstanceOf(ProvisioningError);
  const e = caught as ProvisioningError;
  expect(e.code, e.message).toBe(code);
  return e;
};

const fieldOf = (e: ProvisioningError): unknown => e.details?.field;

describe('validateOnboardRequest: principals', () => {
  it('accepts a role ARN with a path; the default dbUser is the role name without the path', () => {
    const { request: r, target } = validateOnboardRequest(request(), config);
    expect(r.principal).toEqual({ arn: ROLE_ARN, partition: 'aws', accountId: ACCOUNT, type: 'role', name: 'PaymentsReader', path: '/teams/payments/' });
    expect(r.dbUser).toBe('PaymentsReader');
    expect(r).toEqual({ requestId: 'req-0001', principal: r.principal, dbUser: 'PaymentsReader', dbRoles: [], databases: [] });
    expect(target.name).toBe('orders');
    expect(target.identifier).toBe('orders-db');
    expect(target.allowedDbRoles).toEqual(['app_read', 'app_write']);
  });

  it('accepts a user ARN (path /) and keeps reason and requestedBy', () => {
    const { request: r } = validateOnboardRequest(
      request({ principalArn: USER_ARN, reason: 'OPS-42', requestedBy: 'arn:aws:sts::123456789012:assumed-role/Admin/alice' }),
      config,
    );
    expect(r.principal).toEqual({ arn: USER_ARN, partition: 'aws', accountId: ACCOUNT, type: 'user', name: 'jane.doe@example.com', path: '/' });
    expect(r.dbUser).toBe('jane.doe@example.com');
    expect(r.reason).toBe('OPS-42');
    expect(r.requestedBy).toBe('arn:aws:sts::123456789012:assumed-role/Admin/alice');
  });

  it('the default dbUser is the principal name exactly, case kept', () => {
    const { request: r } = validateOnboardRequest(request({ principalArn: `arn:aws:iam::${ACCOUNT}:role/MixedCase.Role` }), config);
    expect(r.dbUser).toBe('MixedCase.Role');
  });

  it('an explicit dbUser wins over the principal name', () => {
    const { request: r } = validateOnboardRequest(request({ dbUser: 'payments_ro' }), config);
    expect(r.dbUser).toBe('payments_ro');
    expect(r.principal.name).toBe('PaymentsReader');
  });

  it('refuses an STS assumed-role session ARN and says to use the role ARN', () => {
    const e = failure(request({ principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/PaymentsReader/session-1` }), 'ValidationError');
    expect(fieldOf(e)).toBe('principalArn');
    expect(e.message).toMatch(/role ARN/);
    expect(e.message).toContain(`arn:PARTITION:iam::ACCOUNT:role/NAME`);
  });

  it.each([
    ['group', `arn:aws:iam::${ACCOUNT}:group/Developers`],
    ['root', `arn:aws:iam::${ACCOUNT}:root`],
    ['policy', `arn:aws:iam::${ACCOUNT}:policy/ReadOnly`],
    ['instance profile', `arn:aws:iam::${ACCOUNT}:instance-profile/web`],
    ['short account', 'arn:aws:iam::12345678901:role/App'],
    ['region in an IAM ARN', `arn:aws:iam:eu-west-1:${ACCOUNT}:role/App`],
    ['unknown partition', `arn:aws-iso:iam::${ACCOUNT}:role/App`],
    ['no name', `arn:aws:iam::${ACCOUNT}:role/`],
    ['no slash after the type', `arn:aws:iam::${ACCOUNT}:roleAdmin`],
    ['wildcard name', `arn:aws:iam::${ACCOUNT}:role/*`],
    ['not an ARN', 'PaymentsReader'],
    ['empty', ''],
    ['trailing whitespace', `${ROLE_ARN} `],
  ])('refuses a %s ARN with a ValidationError on principalArn', (_label, arn) => {
    const e = failure(request({ principalArn: arn }), 'ValidationError');
    expect(fieldOf(e)).toBe('principalArn');
  });

  it('refuses a role name longer than 64 characters', () => {
    const e = failure(request({ principalArn: `arn:aws:iam::${ACCOUNT}:role/${'r'.repeat(65)}`, dbUser: 'someone' }), 'ValidationError');
    expect(fieldOf(e)).toBe('principalArn');
  });

  it('refuses a missing or non-string principalArn', () => {
    expect(fieldOf(failure(request({ principalArn: undefined }), 'ValidationError'))).toBe('principalArn');
    expect(fieldOf(failure(request({ principalArn: 42 }), 'ValidationError'))).toBe('principalArn');
  });

  it('refuses a principal in another partition than the target', () => {
    const e = failure(request({ principalArn: `arn:aws-cn:iam::${ACCOUNT}:role/App` }), 'ValidationError');
    expect(fieldOf(e)).toBe('principalArn');
    expect(e.message).toContain('aws-cn');
  });

  it('refuses a principal in another account than the target', () => {
    const e = failure(request({ principalArn: 'arn:aws:iam::210987654321:role/App' }), 'ValidationError');
    expect(fieldOf(e)).toBe('principalArn');
    expect(e.message).toContain('210987654321');
  });

  it('aws-cn principals are accepted for a cn-north-1 target and refused for eu-west-1', () => {
    const cnArn = `arn:aws-cn:iam::${ACCOUNT}:role/App`;
    const { request: r, target } = validateOnboardRequest(request({ principalArn: cnArn, target: 'beijing' }), config);
    expect(r.principal.partition).toBe('aws-cn');
    expect(target.name).toBe('beijing');
    expect(fieldOf(failure(request({ principalArn: cnArn, target: 'orders' }), 'ValidationError'))).toBe('principalArn');
    // ... and an aws principal is refused for the cn-north-1 target.
    expect(fieldOf(failure(request({ principalArn: `arn:aws:iam::${ACCOUNT}:role/App`, target: 'beijing' }), 'ValidationError'))).toBe('principalArn');
  });

  it('aws-us-gov principals are accepted for a us-gov-west-1 target only', () => {
    const govArn = `arn:aws-us-gov:iam::${ACCOUNT}:user/ops`;
    const { request: r } = validateOnboardRequest(request({ principalArn: govArn, target: 'govcloud' }), config);
    expect(r.principal).toMatchObject({ partition: 'aws-us-gov', type: 'user', name: 'ops' });
    expect(fieldOf(failure(request({ principalArn: govArn }), 'ValidationError'))).toBe('principalArn');
    expect(fieldOf(failure(request({ principalArn: `arn:aws:iam::${ACCOUNT}:user/ops`, target: 'govcloud' }), 'ValidationError'))).toBe('principalArn');
  });
});

describe('validateOnboardRequest: target and roles', () => {
  it('an unknown target is UnknownTarget (404) on field target', () => {
    const e = failure(request({ target: 'nope' }), 'UnknownTarget');
    expect(fieldOf(e)).toBe('target');
    expect(e.httpStatus).toBe(404);
  });

  it('an inherited property name is not a target', () => {
    failure(request({ target: 'constructor' }), 'UnknownTarget');
    failure(request({ target: '__proto__' }), 'UnknownTarget');
  });

  it('accepts allow-listed dbRoles and removes duplicates, keeping order', () => {
    const { request: r } = validateOnboardRequest(request({ dbRoles: ['app_write', 'app_read', 'app_write', 'app_read'] }), config);
    expect(r.dbRoles).toEqual(['app_write', 'app_read']);
  });

  it('deduplicates databases', () => {
    const { request: r } = validateOnboardRequest(request({ databases: ['app', 'reporting', 'app'] }), config);
    expect(r.databases).toEqual(['app', 'reporting']);
  });

  it('a database not in allowedDatabases is DatabaseNotAllowed (403), naming it and what is allowed; none by default', () => {
    const e = failure(request({ databases: ['app', 'payroll'] }), 'DatabaseNotAllowed');
    expect(e.details).toEqual({ field: 'databases', database: 'payroll' });
    expect(e.message).toContain('allowed: app, reporting');
    expect(e.httpStatus).toBe(403);
    const none = failure(request({ target: 'beijing', principalArn: `arn:aws-cn:iam::${ACCOUNT}:role/r`, databases: ['app'] }), 'DatabaseNotAllowed');
    expect(none.message).toContain('allowed: none');
    expect(validateOnboardRequest(request({ target: 'beijing', principalArn: `arn:aws-cn:iam::${ACCOUNT}:role/r` }), config).request.databases).toEqual([]);
  });

  it('a role not on the allow-list is RoleNotAllowed (403), naming the role', () => {
    const e = failure(request({ dbRoles: ['app_read', 'app_admin'] }), 'RoleNotAllowed');
    expect(e.details).toEqual({ field: 'dbRoles', role: 'app_admin' });
    expect(e.message).toContain('app_admin');
    expect(e.httpStatus).toBe(403);
  });

  it('the allow-list is case-sensitive (PostgreSQL role names are)', () => {
    failure(request({ dbRoles: ['APP_READ'] }), 'RoleNotAllowed');
  });

  it('rds_superuser is never allowed when not on the list', () => {
    failure(request({ dbRoles: ['rds_superuser'] }), 'RoleNotAllowed');
  });

  it('a malformed dbRoles entry is a ValidationError naming its index', () => {
    const e = failure(request({ dbRoles: ['app_read', 'app read'] }), 'ValidationError');
    expect(fieldOf(e)).toBe('dbRoles[1]');
  });
});

describe('validateOnboardRequest: request body', () => {
  it('an unknown body field is a ValidationError naming the field', () => {
    const e = failure(request({ dbuser: 'x' }), 'ValidationError');
    expect(fieldOf(e)).toBe('dbuser');
    expect(e.message).toContain('dbuser');
  });

  it('a missing target is a ValidationError on target', () => {
    const e = failure(request({ target: undefined }), 'ValidationError');
    expect(fieldOf(e)).toBe('target');
  });

  it.each([
    ['spaces', 'req 0001'],
    ['81 characters', 'r'.repeat(81)],
    ['empty', ''],
    ['a slash', 'req/1'],
  ])('a requestId with %s is a ValidationError on requestId', (_label, requestId) => {
    const e = failure(request({ requestId }), 'ValidationError');
    expect(fieldOf(e)).toBe('requestId');
  });

  it('an 80-character requestId is accepted', () => {
    const requestId = 'r'.repeat(80);
    expect(validateOnboardRequest(request({ requestId }), config).request.requestId).toBe(requestId);
  });

  it('a missing required field is reported as required', () => {
    const e = failure(request({ requestId: undefined }), 'ValidationError');
    expect(e.details).toEqual({ field: 'requestId', reason: 'is required' });
  });

  it('a field of the wrong type is not reported as missing', () => {
    // dbRoles is present (a string, not an array): "is required" would send the caller the wrong way.
    const e = failure(request({ dbRoles: 'app_read' }), 'ValidationError');
    expect(fieldOf(e)).toBe('dbRoles');
    expect(e.details?.reason).not.toBe('is required');
    expect(e.message).toMatch(/array/);
  });

  it('a non-object body is a ValidationError', () => {
    failure(null, 'ValidationError');
    failure('principalArn=x', 'ValidationError');
  });
});

describe('validateOnboardRequest: dbUser', () => {
  it.each([
    'postgres',
    'PG_monitor',
    'pg_read_all_data',
    'rdsadmin',
    'rds_superuser',
    'RDS_IAM',
    'public',
    'PUBLIC',
    'current_user',
    'provisioner',
    'Provisioner',
    'data_owner',
    'rds_iam_access_managed',
    'app_read',
  ])('%s is ProtectedRole (403)', (dbUser) => {
    const e = failure(request({ dbUser }), 'ProtectedRole');
    expect(fieldOf(e)).toBe('dbUser');
    expect(e.httpStatus).toBe(403);
  });

  it('a principal named like a protected role gets ProtectedRole by default', () => {
    failure(request({ principalArn: `arn:aws:iam::${ACCOUNT}:role/rdsadmin` }), 'ProtectedRole');
    failure(request({ principalArn: `arn:aws:iam::${ACCOUNT}:user/provisioner` }), 'ProtectedRole');
  });

  it.each([
    ['64 bytes', 'u'.repeat(MAX_IDENTIFIER_BYTES + 1)],
    ['a NUL', 'jane\0doe'],
    ['*', 'jane*'],
    ['?', 'jan?'],
    ['a policy variable', '${aws:username}'],
    ['/', 'team/jane'],
    ['a double quote', 'jane"doe'],
    ['a space', 'jane doe'],
    [';', 'jane;drop'],
    ['a leading digit', '1jane'],
    ['a leading -', '-jane'],
    ['a comma', 'jane,doe'],
    ['unicode (ASCII only)', 'jöhn'],
    ['empty', ''],
  ])('a dbUser with %s is a ValidationError on dbUser', (_label, dbUser) => {
    const e = failure(request({ dbUser }), 'ValidationError');
    expect(fieldOf(e)).toBe('dbUser');
  });

  it('a non-string dbUser is a ValidationError on dbUser', () => {
    expect(fieldOf(failure(request({ dbUser: 7 }), 'ValidationError'))).toBe('dbUser');
  });

  it('a 63-byte dbUser is accepted', () => {
    const dbUser = `a${'b'.repeat(MAX_IDENTIFIER_BYTES - 1)}`;
    expect(Buffer.byteLength(dbUser)).toBe(63);
    expect(validateOnboardRequest(request({ dbUser }), config).request.dbUser).toBe(dbUser);
  });

  it('IAM name punctuation _ . @ + = - is accepted', () => {
    expect(validateOnboardRequest(request({ dbUser: 'jane.doe+ops=1@example-corp_x' }), config).request.dbUser).toBe('jane.doe+ops=1@example-corp_x');
  });

  it('validateDbUser protects the master user when told about it', () => {
    expect(() => validateDbUser('DBMaster', { masterUser: 'dbmaster' })).toThrow(expect.objectContaining({ code: 'ProtectedRole' }));
    expect(validateDbUser('dbmaster2', { masterUser: 'dbmaster' })).toBe('dbmaster2');
  });
});

describe('arn helpers', () => {
  it('dbUserResourceArn names dbuser:RESOURCE_ID/DB_USER in the right partition', () => {
    expect(dbUserResourceArn({ partition: 'aws-cn', region: 'cn-north-1', accountId: ACCOUNT, resourceId: 'db-ABC', dbUser: 'jane' })).toBe(
      `arn:aws-cn:rds-db:cn-north-1:${ACCOUNT}:dbuser:db-ABC/jane`,
    );
  });

  it('parsePrincipalArn reports errors on the field it is given', () => {
    let caught: unknown;
    try {
      parsePrincipalArn('nope', 'members[0]');
    } catch (e) {
      caught = e;
    }
    expect(isProvisioningError(caught, 'ValidationError')).toBe(true);
    expect((caught as ProvisioningError).details?.field).toBe('members[0]');
  });
});

describe('ProvisioningError', () => {
  const ALL_CODES = Object.keys({
    ValidationError: true,
    UnknownTarget: true,
    RoleNotAllowed: true,
    DatabaseNotAllowed: true,
    ProtectedRole: true,
    UnmanagedRoleConflict: true,
    UnknownDatabase: true,
    UnknownGroupRole: true,
    AdminLacksPrivilege: true,
    TargetNotFound: true,
    TargetNotSupported: true,
    TargetBusy: true,
    TargetUnavailable: true,
    IamAuthEnableTimeout: true,
    IamAuthDisabled: true,
    PrincipalNotFound: true,
    PrincipalRecreated: true,
    ForeignPolicyConflict: true,
    GrantLimitReached: true,
    DriftChanged: true,
    GrantLockBusy: true,
    DbUserBusy: true,
    LeasePreempted: true,
    ReconcileRunning: true,
    IamNotYetConsistent: true,
    TransientDatabaseError: true,
    TransientAwsError: true,
    DatabaseError: true,
    ConfigurationError: true,
    NotAuthorized: true,
    RequestNotFound: true,
    RequestConflict: true,
    RequestRunning: true,
    NothingToRetry: true,
    RetryLimitReached: true,
    SelfApproval: true,
    ApprovalExpired: true,
    PlanChanged: true,
    AlreadyVoted: true,
    RequestStateConflict: true,
    AccessRequestBusy: true,
    RouteNotFound: true,
    IdentityProviderUnavailable: true,
    ReassignmentRefused: true,
  } satisfies Record<ErrorCode, true>) as ErrorCode[];

  it('name is the code, and it is an Error', () => {
    for (const code of ALL_CODES) {
      const e = new ProvisioningError(code, 'm');
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(code);
      expect(e.code).toBe(code);
      expect(e.message).toBe('m');
    }
  });

  it('retryable is true exactly for RETRYABLE_CODES', () => {
    expect([...RETRYABLE_CODES].sort()).toEqual([
      'DbUserBusy',
      'GrantLockBusy',
      'IamNotYetConsistent',
      'TargetBusy',
      'TransientAwsError',
      'TransientDatabaseError',
    ]);
    for (const code of ALL_CODES) {
      expect(new ProvisioningError(code, 'm').retryable, code).toBe(RETRYABLE_CODES.includes(code));
    }
    expect(ALL_CODES.filter((c) => new ProvisioningError(c, 'm').retryable)).toHaveLength(RETRYABLE_CODES.length);
  });

  it('toJSON is {error, message}, with details only when there are some', () => {
    expect(new ProvisioningError('UnknownTarget', 'target "x" is not configured').toJSON()).toEqual({
      error: 'UnknownTarget',
      message: 'target "x" is not configured',
    });
    expect(JSON.parse(JSON.stringify(new ProvisioningError('TargetBusy', 'later')))).toEqual({ error: 'TargetBusy', message: 'later' });
    expect(invalid('dbUser', 'is bad').toJSON()).toEqual({
      error: 'ValidationError',
      message: 'dbUser: is bad',
      details: { field: 'dbUser', reason: 'is bad' },
    });
  });

  it('httpStatus fits the error', () => {
    expect(new ProvisioningError('ValidationError', 'm').httpStatus).toBe(400);
    expect(new ProvisioningError('RoleNotAllowed', 'm').httpStatus).toBe(403);
    expect(new ProvisioningError('ProtectedRole', 'm').httpStatus).toBe(403);
    expect(new ProvisioningError('UnknownTarget', 'm').httpStatus).toBe(404);
    expect(new ProvisioningError('UnmanagedRoleConflict', 'm').httpStatus).toBe(409);
    for (const code of ALL_CODES) {
      expect(Number.isInteger(new ProvisioningError(code, 'm').httpStatus), code).toBe(true);
    }
  });

  it('keeps a cause only when given one', () => {
    const cause = new Error('root');
    expect(new ProvisioningError('DatabaseError', 'm', { cause }).cause).toBe(cause);
    expect('cause' in new ProvisioningError('DatabaseError', 'm')).toBe(false);
  });

  it('isProvisioningError checks the class and, optionally, the code', () => {
    const e = new ProvisioningError('TargetBusy', 'm');
    expect(isProvisioningError(e)).toBe(true);
    expect(isProvisioningError(e, 'TargetBusy')).toBe(true);
    expect(isProvisioningError(e, 'TargetNotFound')).toBe(false);
    expect(isProvisioningError(Object.assign(new Error('m'), { name: 'TargetBusy', code: 'TargetBusy' }))).toBe(false);
  });
});

describe('reassignment settings (per target)', () => {
  const withReassignment = (reassignment: unknown) =>
    parseConfig({
      targets: {
        orders: {
          kind: 'instance',
          identifier: 'orders-db',
          region: 'eu-west-1',
          accountId: ACCOUNT,
          allowedDbRoles: ['app_read'],
          successorRole: 'data_owner',
          admin: { method: 'iam', user: 'provisioner' },
          reassignment,
        },
      },
    });

  it('defaults to the safe choice: quarantine, in a role of its own', () => {
    expect(config.targets.orders.reassignment).toEqual({ unsafeObjects: 'quarantine', quarantineRole: 'iam_access_quarantine' });
    expect(withReassignment({ unsafeObjects: 'refuse' }).targets.orders.reassignment).toEqual({
      unsafeObjects: 'refuse',
      quarantineRole: 'iam_access_quarantine',
    });
  });

  it.each([
    [{ unsafeObjects: 'successor' }, 'targets.orders.reassignment.unsafeObjects'],
    [{ quarantineRole: 'data_owner' }, 'it is the successor role'],
    [{ quarantineRole: 'app_read' }, 'listed as protected'],
    [{ quarantineRole: 'rds_q' }, 'rds* roles are reserved'],
    [{ quarantineRole: 'pg_q' }, 'pg_* roles are reserved'],
    [{ quarantineRole: 'a b' }, 'targets.orders.reassignment.quarantineRole'],
    [{ unsafeObjects: 'quarantine', dropThem: true }, 'dropThem'],
  ])('refuses %j, naming the field and what is wrong', (reassignment, message) => {
    expect(() => withReassignment(reassignment)).toThrow(message);
  });

  it('the quarantine role can never be onboarded or offboarded', () => {
    expect(() =>
      validateOnboardRequest({ requestId: 'r-1', principalArn: `arn:aws:iam::${ACCOUNT}:role/x`, dbUser: 'iam_access_quarantine', target: 'orders' }, config),
    ).toThrow('quarantine role');
  });
});
