import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DBInstanceNotFoundFault, InvalidDBInstanceStateFault } from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import { awsErrorName, isTransientAwsError, mapAwsError } from '../../../functions/lib/core/aws-errors';
import { type ErrorCode, ProvisioningError } from '../../../functions/lib/core/errors';
import { isTransientPgError, SQLSTATE, sqlstateOf, toProvisioningError } from '../../../functions/lib/postgres/sqlstate';

/** An error as node-postgres (or node's net layer) reports it: a message and a string code. */
const pgError = (code: string | undefined, message = 'boom'): Error => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('toProvisioningError: classification by SQLSTATE', () => {
  it.each([
    ['40P01', 'deadlock detected'],
    ['40001', 'could not serialize access due to concurrent update'],
    ['XX000', 'tuple concurrently updated'],
    ['08006', 'connection failure'],
    ['08001', 'could not connect'],
    ['57P01', 'terminating connection due to administrator command'],
    ['53300', 'sorry, too many clients already'],
    ['55P03', 'could not obtain lock'],
    ['ECONNRESET', 'read ECONNRESET'],
    ['ECONNREFUSED', 'connect ECONNREFUSED'],
    ['ETIMEDOUT', 'connect ETIMEDOUT'],
  ])('%s -> TransientDatabaseError (retryable)', (code, message) => {
    const cause = pgError(code, message);
    const e = toProvisioningError(cause, 'create user');
    expect(e).toBeInstanceOf(ProvisioningError);
    expect(e.code).toBe('TransientDatabaseError');
    expect(e.retryable).toBe(true);
    expect(e.details).toEqual({ sqlstate: code });
    expect(e.cause).toBe(cause);
    expect(e.message).toBe(`create user: ${message} (SQLSTATE ${code})`);
    expect(isTransientPgError(cause)).toBe(true);
  });

  it.each(['42501', '28P01', '28000'])('%s -> AdminLacksPrivilege (not retryable)', (code) => {
    const cause = pgError(code, 'permission denied');
    const e = toProvisioningError(cause, 'grant');
    expect(e.code).toBe('AdminLacksPrivilege');
    expect(e.retryable).toBe(false);
    expect(e.details).toEqual({ sqlstate: code });
    expect(e.cause).toBe(cause);
    expect(isTransientPgError(cause)).toBe(false);
  });

  it('3D000 -> UnknownDatabase', () => {
    const e = toProvisioningError(pgError('3D000', 'database "nope" does not exist'), 'connect');
    expect(e.code).toBe('UnknownDatabase');
    expect(e.details).toEqual({ sqlstate: '3D000' });
    expect(e.retryable).toBe(false);
  });

  it('23505 -> DatabaseError carrying the SQLSTATE', () => {
    const cause = pgError('23505', 'duplicate key value violates unique constraint "pg_authid_rolname_index"');
    const e = toProvisioningError(cause, 'create user');
    expect(e.code).toBe('DatabaseError');
    expect(e.details).toEqual({ sqlstate: '23505' });
    expect(e.details?.sqlstate).toBe('23505');
    expect(e.retryable).toBe(false);
    expect(e.cause).toBe(cause);
    expect(isTransientPgError(cause)).toBe(false);
  });

  it('messages are never matched: no code + "tuple concurrently updated" is not transient', () => {
    const cause = pgError(undefined, 'tuple concurrently updated');
    expect(isTransientPgError(cause)).toBe(false);
    const e = toProvisioningError(cause, 'grant');
    expect(e.code).toBe('DatabaseError');
    expect(e.retryable).toBe(false);
    expect(e.details).toBeUndefined();
    expect(e.message).toBe('grant: tuple concurrently updated');
  });

  it('messages are never matched: a German deadlock message with a non-transient code stays non-transient', () => {
    const e = toProvisioningError(pgError('23505', 'Verklemmung (Deadlock) entdeckt'), 'grant');
    expect(e.code).toBe('DatabaseError');
  });

  it('a numeric code is not a SQLSTATE', () => {
    const cause = Object.assign(new Error('deadlock detected'), { code: 40001 });
    expect(sqlstateOf(cause)).toBeUndefined();
    expect(isTransientPgError(cause)).toBe(false);
    expect(toProvisioningError(cause, 'x').code).toBe('DatabaseError');
  });

  it('typed errors pass through unchanged (same object)', () => {
    const typed = new ProvisioningError('ProtectedRole', 'no');
    expect(toProvisioningError(typed, 'x')).toBe(typed);
  });

  it('non-Error values are handled', () => {
    expect(toProvisioningError('plain string', 'ctx').message).toBe('ctx: plain string');
    expect(toProvisioningError(undefined, 'ctx').code).toBe('DatabaseError');
    expect(isTransientPgError(undefined)).toBe(false);
    expect(isTransientPgError(null)).toBe(false);
  });
});

/** Runs mapAwsError, which always throws, and returns what it threw. */
const thrownBy = (e: unknown, known?: Record<string, ErrorCode>): unknown => {
  try {
    mapAwsError(e, 'describe instance orders-db', known);
  } catch (thrown) {
    return thrown;
  }
  throw new Error('mapAwsError returned instead of throwing');
};

const named = (name: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(`${name} happened`), { name }, extra);

describe('mapAwsError', () => {
  it.each([
    ['Throttling', named('Throttling')],
    ['ThrottlingException', named('ThrottlingException')],
    ['TooManyRequestsException', named('TooManyRequestsException')],
    ['RequestLimitExceeded', named('RequestLimitExceeded')],
    ['$retryable', named('SomethingOdd', { $retryable: { throttling: false } })],
    ['httpStatusCode 503', named('SomethingOdd', { $metadata: { httpStatusCode: 503 } })],
    ['httpStatusCode 500', named('InternalServerError', { $metadata: { httpStatusCode: 500 } })],
  ])('%s -> TransientAwsError, keeping the cause', (_label, err) => {
    const thrown = thrownBy(err);
    expect(thrown).toBeInstanceOf(ProvisioningError);
    const e = thrown as ProvisioningError;
    expect(e.code).toBe('TransientAwsError');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(err);
    expect(e.message).toBe(`describe instance orders-db: ${err.name}: ${err.message}`);
    expect(isTransientAwsError(err)).toBe(true);
  });

  it('known names map to the given code', () => {
    const fault = new DBInstanceNotFoundFault({ message: 'DBInstance orders-db not found.', $metadata: { httpStatusCode: 404 } });
    const e = thrownBy(fault, { DBInstanceNotFoundFault: 'TargetNotFound' }) as ProvisioningError;
    expect(e).toBeInstanceOf(ProvisioningError);
    expect(e.code).toBe('TargetNotFound');
    expect(e.cause).toBe(fault);
    expect(e.message).toContain('DBInstanceNotFoundFault');

    const busy = new InvalidDBInstanceStateFault({ message: 'not available', $metadata: { httpStatusCode: 400 } });
    expect((thrownBy(busy, { InvalidDBInstanceStateFault: 'TargetBusy' }) as ProvisioningError).code).toBe('TargetBusy');
  });

  it('a known name wins over transience', () => {
    const e = thrownBy(named('ServiceUnavailable', { $metadata: { httpStatusCode: 503 } }), { ServiceUnavailable: 'TargetUnavailable' }) as ProvisioningError;
    expect(e.code).toBe('TargetUnavailable');
  });

  it('unknown errors are rethrown unchanged (same object)', () => {
    const denied = named('AccessDenied', { $metadata: { httpStatusCode: 403 } });
    expect(thrownBy(denied, { DBInstanceNotFoundFault: 'TargetNotFound' })).toBe(denied);
    const fault = new DBInstanceNotFoundFault({ message: 'x', $metadata: {} });
    expect(thrownBy(fault)).toBe(fault);
    const notAnError = { weird: true };
    expect(thrownBy(notAnError)).toBe(notAnError);
    expect(thrownBy('string error')).toBe('string error');
  });

  it('4xx errors are not transient', () => {
    expect(isTransientAwsError(named('ValidationException', { $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isTransientAwsError(named('Whatever', { $retryable: undefined }))).toBe(false);
    expect(isTransientAwsError(undefined)).toBe(false);
  });

  it('known names are own properties only (no prototype lookups)', () => {
    const err = named('toString');
    expect(thrownBy(err, { DBInstanceNotFoundFault: 'TargetNotFound' })).toBe(err);
  });

  it('typed errors pass through unchanged', () => {
    const typed = new ProvisioningError('TargetNotFound', 'gone');
    expect(thrownBy(typed, { TargetNotFound: 'TargetBusy' })).toBe(typed);
  });

  it('awsErrorName falls back to UnknownError', () => {
    expect(awsErrorName(named('ThrottlingException'))).toBe('ThrottlingException');
    expect(awsErrorName({})).toBe('UnknownError');
    expect(awsErrorName(undefined)).toBe('UnknownError');
  });
});

describe('SQLSTATE: one table of the codes', () => {
  const root = join(__dirname, '../../..');
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|sql)$/.test(e.name) ? [join(dir, e.name)] : [],
    );
  const codes = Object.values(SQLSTATE).filter((c) => c.length === 5);

  it('no code is written out in functions/ but in sqlstate.ts: the code names it (SQLSTATE), comments and SQL use the condition name', () => {
    const offenders = sources(join(root, 'functions'))
      .filter((f) => !f.endsWith(join('postgres', 'sqlstate.ts')))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => ({ where: `${relative(root, f)}:${i + 1}`, line }))
          .filter(({ line }) => codes.some((c) => new RegExp(`\\b${c}\\b`).test(line)) || /['"`](?=[0-9A-Z]*[0-9])[0-9A-Z]{5}['"`]/.test(line)),
      )
      .map(({ where, line }) => `${where}: ${line.trim()}`);
    expect(codes.length).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });
});
