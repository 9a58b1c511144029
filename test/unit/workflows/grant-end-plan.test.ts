import { describe, expect, it } from 'vitest';
import { type EndingGrant, planGrantEnd, type UserGrant } from '../../../functions/lib/workflows/grant-end-plan';

const ROLE = 'arn:aws:iam::123456789012:role/alice';
const NOW = new Date('2026-12-06T12:00:00Z');
const at = (hours: number): string => new Date(NOW.getTime() + hours * 3_600_000).toISOString();
const grant = (requestId: string, extra: Partial<EndingGrant> = {}): EndingGrant => ({
  requestId,
  principalArn: ROLE,
  dbRoles: ['app_write'],
  databases: ['app'],
  expiresAt: at(0),
  ...extra,
});
const nothingBefore = { dbRoles: [], databases: [], canLogin: false, connectStatement: false };

describe('planGrantEnd: what the end of one grant takes away', () => {
  it('alone: everything it gave, NOLOGIN and the connect statement', () => {
    expect(planGrantEnd(grant('a', { heldBefore: nothingBefore }), [], NOW)).toEqual({
      revokeRoles: ['app_write'],
      revokeDatabases: ['app'],
      blockLogin: true,
      removeConnect: true,
      keptFor: [],
    });
  });

  it('overlapping grants A (1 h) and B (2 h): A ending keeps what B covers; B ending an hour later takes it', () => {
    const a = grant('a', { dbRoles: ['app_read', 'app_write'], expiresAt: at(0), heldBefore: nothingBefore });
    const b: UserGrant = grant('b', { dbRoles: ['app_write'], expiresAt: at(1) });
    expect(planGrantEnd(a, [a, b], NOW)).toEqual({ revokeRoles: ['app_read'], revokeDatabases: [], blockLogin: false, removeConnect: false, keptFor: ['b'] });
    const later = new Date(NOW.getTime() + 3_600_000);
    expect(planGrantEnd({ ...b, heldBefore: nothingBefore }, [a, b], later)).toEqual({
      revokeRoles: ['app_write'],
      revokeDatabases: ['app'],
      blockLogin: true,
      removeConnect: true,
      keptFor: [],
    });
  });

  it('a grant past its expiresAt keeps nothing alive, even while its own end is still running', () => {
    const lagging = grant('lagging', { expiresAt: at(-0.1) });
    expect(planGrantEnd(grant('a', { heldBefore: nothingBefore }), [lagging], NOW)).toMatchObject({
      revokeRoles: ['app_write'],
      blockLogin: true,
      keptFor: [],
    });
  });

  it('standing access held before the grant stays: only what the grant added goes, login and statement kept', () => {
    const before = { dbRoles: ['app_read'], databases: ['app'], canLogin: true, connectStatement: true };
    expect(planGrantEnd(grant('a', { dbRoles: ['app_read', 'app_write'], heldBefore: before }), [], NOW)).toEqual({
      revokeRoles: ['app_write'],
      revokeDatabases: [],
      blockLogin: false,
      removeConnect: false,
      keptFor: [],
    });
  });

  it('fails closed: without a record of what was held before, it takes everything the grant gave', () => {
    expect(planGrantEnd(grant('a', { dbRoles: ['app_read'] }), [], NOW)).toMatchObject({ revokeRoles: ['app_read'], blockLogin: true, removeConnect: true });
  });

  it("another principal's grant of the same user keeps the login and roles, not this principal's statement", () => {
    const other = grant('b', { principalArn: 'arn:aws:iam::123456789012:role/bob', expiresAt: at(2) });
    expect(planGrantEnd(grant('a', { heldBefore: nothingBefore }), [other], NOW)).toMatchObject({
      revokeRoles: [],
      blockLogin: false,
      removeConnect: true,
      keptFor: ['b'],
    });
  });

  it('access without an end (no expiresAt) always counts as live', () => {
    const standing = grant('standing', { expiresAt: undefined });
    expect(planGrantEnd(grant('a', { heldBefore: nothingBefore }), [standing], new Date('2100-01-01T00:00:00Z'))).toMatchObject({
      revokeRoles: [],
      blockLogin: false,
      keptFor: ['standing'],
    });
  });
});
