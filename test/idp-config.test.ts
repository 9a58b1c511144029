/**
 * The identity-provider mapping in the targets file (issue 6): validated with the rest of the
 * configuration, at package time and when a function starts.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../functions/lib/config';

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
const perPerson = { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/db-{userNameLocalPart}' };

describe('idp mapping', () => {
  it('accepts groups to targets and roles, a principal template and a database user template', () => {
    const config = parseConfig(withIdp({ groups: { 'db-orders-readers': { targets: ['orders'], dbRoles: ['app_read'] } }, principal: perPerson, dbUserTemplate: '{userNameLocalPart}', identityStoreId: 'd-1234567890' }));
    expect(config.idp?.groups['db-orders-readers']).toEqual({ targets: ['orders'], dbRoles: ['app_read'], databases: [] });
    expect(config.idp?.dbUserTemplate).toBe('{userNameLocalPart}');
  });

  it('defaults: database user = {userName}; shared principals tag db_user', () => {
    const config = parseConfig(withIdp({ groups: {}, principal: { kind: 'shared', roleArn: 'arn:aws:iam::123456789012:role/AWSReservedSSO_DB_0123' } }));
    expect(config.idp?.dbUserTemplate).toBe('{userName}');
    expect(config.idp?.principal).toEqual({ kind: 'shared', roleArn: 'arn:aws:iam::123456789012:role/AWSReservedSSO_DB_0123', tagKey: 'db_user' });
  });

  it.each([
    ['an unknown target', { groups: { g: { targets: ['nope'] } }, principal: perPerson }, /idp.groups.g.targets: "nope" is not a configured target/],
    ['a role off the target allow-list', { groups: { g: { targets: ['orders'], dbRoles: ['rds_superuser'] } }, principal: perPerson }, /"rds_superuser" is not on the allow-list of target "orders"/],
    ['a group without targets', { groups: { g: { targets: [] } }, principal: perPerson }, /name at least one target/],
    ['an unknown placeholder', { groups: {}, principal: { kind: 'per-person', arnTemplate: 'arn:aws:iam::1:role/{email}' } }, /may use only the placeholders/],
    ['a malformed identity store id', { groups: {}, principal: perPerson, identityStoreId: 'store' }, /identity store id/],
  ])('refuses %s', (_, idp, message) => {
    expect(() => parseConfig(withIdp(idp))).toThrow(message);
  });
});
