/**
 * The identity-provider mapping in the targets file (issue 6): validated with the rest of the
 * configuration, at package time and when a function starts.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/lib/core/config';

const base = {
  targets: {
    orders: {
      kind: 'instance',
      identifier: 'orders-prod',
      region: 'eu-west-1',
      accountId: '123456789012',
      allowedDbRoles: ['app_read', 'app_write'],
      admin: { method: 'secret', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf' },
      successorRole: 'data_owner',
    },
  },
};
const withIdp = (idp: object) => ({ ...base, idp });
const SHARED_ROLE = 'arn:aws:iam::123456789012:role/AWSReservedSSO_DB_0123';
const perPerson = { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/db-{userNameLocalPart}' };

describe('idp mapping', () => {
  it('accepts groups to targets and roles, a principal template and a database user template', () => {
    const config = parseConfig(
      withIdp({
        groups: { 'db-orders-readers': { targets: ['orders'], dbRoles: ['app_read'] } },
        principal: perPerson,
        dbUserTemplate: '{userNameLocalPart}',
        identityStoreId: 'd-1234567890',
      }),
    );
    expect(config.idp?.groups['db-orders-readers']).toEqual({ targets: ['orders'], dbRoles: ['app_read'], databases: [] });
    expect(config.idp?.dbUserTemplate).toBe('{userNameLocalPart}');
  });

  it('defaults: database user = {userName}; shared principals tag db_user', () => {
    expect(parseConfig(withIdp({ groups: {}, principal: perPerson })).idp?.dbUserTemplate).toBe('{userName}');
    const config = parseConfig(
      withIdp({ groups: {}, principal: { kind: 'shared', roleArn: SHARED_ROLE, dbUserPrefix: 'sso_' }, dbUserTemplate: 'sso_{userName}' }),
    );
    expect(config.idp?.principal).toEqual({ kind: 'shared', roleArn: SHARED_ROLE, tagKey: 'db_user', dbUserPrefix: 'sso_' });
  });

  /** A shared mapping whose statement reaches `dbUserPrefix...`, on a target with an IAM admin user. */
  const shared = (dbUserPrefix: unknown, dbUserTemplate = `${String(dbUserPrefix)}{userNameLocalPart}`, target: object = {}) => ({
    ...base,
    targets: { orders: { ...base.targets.orders, admin: { method: 'iam', user: 'iam_admin' }, protectedRoles: ['breakglass'], ...target } },
    idp: { groups: {}, principal: { kind: 'shared', roleArn: SHARED_ROLE, ...(dbUserPrefix === undefined ? {} : { dbUserPrefix }) }, dbUserTemplate },
  });

  it.each([
    ['no prefix', shared(undefined, '{userName}'), /idp.principal.dbUserPrefix: is required for a shared role/],
    ['a prefix with an IAM wildcard', shared('sso_*'), /idp.principal.dbUserPrefix: must be 1-32 characters/],
    ['a template that does not start with the prefix', shared('sso_', '{userName}'), /idp.dbUserTemplate: must start with idp.principal.dbUserPrefix "sso_"/],
    ['a prefix reaching the IAM admin user', shared('iam_'), /"iam_admin" starts with "iam_": it is the admin user/],
    ['a prefix reaching the successor role', shared('data_'), /"data_owner" starts with "data_": it is the successor role/],
    ['a prefix reaching a protected role', shared('break'), /"breakglass" starts with "break": it is listed as protected/],
    ['a prefix reaching an allowed group role', shared('app_'), /"app_read" starts with "app_"/],
    ['a prefix reaching the default master user name', shared('post'), /"postgres" starts with "post"/],
    ['a prefix reaching rds* roles', shared('r'), /include rds\* roles/],
    ['a prefix inside pg_* roles', shared('pg_x'), /include pg_\* roles/],
  ])('refuses a shared role with %s', (_, raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('accepts a shared role whose prefix reaches only names made for people', () => {
    expect(parseConfig(shared('sso_')).idp?.principal).toMatchObject({ dbUserPrefix: 'sso_' });
  });

  it.each([
    ['an unknown target', { groups: { g: { targets: ['nope'] } }, principal: perPerson }, /idp.groups.g.targets: "nope" is not a configured target/],
    [
      'a role off the target allow-list',
      { groups: { g: { targets: ['orders'], dbRoles: ['rds_superuser'] } }, principal: perPerson },
      /"rds_superuser" is not on the allow-list of target "orders"/,
    ],
    ['a group without targets', { groups: { g: { targets: [] } }, principal: perPerson }, /name at least one target/],
    ['an unknown placeholder', { groups: {}, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::1:role/{email}' } }, /may use only the placeholders/],
    ['a malformed identity store id', { groups: {}, principal: perPerson, identityStoreId: 'store' }, /identity store id/],
  ])('refuses %s', (_, idp, message) => {
    expect(() => parseConfig(withIdp(idp))).toThrow(message);
  });
});
