/**
 * What identity changes mean for database access (pure), and the Identity Store directory that
 * says what is true now (IdentitystoreClient mocked at the SDK boundary).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeGroupCommand,
  DescribeUserCommand,
  IdentitystoreClient,
  ListGroupMembershipsForMemberCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-identitystore';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/lib/core/config';
import { decide, type IdpMapping } from '../../../functions/lib/idp/decide';
import type { Person } from '../../../functions/lib/idp/directory';
import { identityStoreDirectory } from '../../../functions/lib/idp/providers/identity-center';
import type { IdentityChange } from '../../../functions/lib/idp/events';
import { parseIdentityEvent } from '../../../functions/lib/idp/providers';

const target = (identifier: string) => ({
  kind: 'instance',
  identifier,
  region: 'eu-west-1',
  accountId: '123456789012',
  allowedDbRoles: ['app_read', 'app_write', 'reporting'],
  allowedDatabases: ['app'],
  admin: { method: 'secret', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf' },
  successorRole: 'data_owner',
});
const READERS = 'c4e8a4d8-2051-70b3-1f0e-9a8b7c6d5e40';
const WRITERS = 'a1b2c3d4-0000-7000-8000-000000000001';
const ALICE = 'f4a8b4c8-0011-7045-9a2b-3c4d5e6f7a81';

const mapping = (
  principal: object = { kind: 'per-person', arnTemplate: 'arn:aws:iam::123456789012:role/db-{userNameLocalPart}' },
  dbUserTemplate = '{userNameLocalPart}',
): IdpMapping =>
  parseConfig({
    targets: { orders: target('orders-prod'), analytics: target('analytics-prod') },
    idp: {
      groups: {
        [READERS]: { targets: ['orders'], dbRoles: ['app_read'], databases: ['app'] },
        [WRITERS]: { targets: ['orders', 'analytics'], dbRoles: ['app_write'] },
        'db-reporting': { targets: ['analytics'], dbRoles: ['reporting'] },
      },
      principal,
      dbUserTemplate,
    },
  }).idp as IdpMapping;

const changeOf = (name: string): IdentityChange => {
  const p = parseIdentityEvent(JSON.parse(readFileSync(join(__dirname, '../../fixtures/idp', `${name}.json`), 'utf8')));
  if (p.kind !== 'change') throw new Error(p.reason);
  return p.change;
};
const alice = (groups: string[], active = true): Person => ({ userId: ALICE, userName: 'alice@example.com', active, groups: groups.map((id) => ({ id })) });

describe('decide', () => {
  it('a mapped add onboards the person with what the group grants, as the mapping names them', () => {
    const d = decide(mapping(), changeOf('identitycenter-console-add-member-to-group'), alice([READERS]));
    expect(d.actions).toEqual([
      {
        kind: 'onboarding',
        input: {
          target: 'orders',
          principalArn: 'arn:aws:iam::123456789012:role/db-alice',
          dbUser: 'alice',
          dbRoles: ['app_read'],
          databases: ['app'],
          idpUser: `identity-center:${ALICE}`,
          exclusiveRoles: true,
        },
      },
    ]);
  });

  it("grants are counted: roles of all the person's groups, and a removal keeps a target another group still grants", () => {
    const m = mapping();
    const add = decide(m, changeOf('identitycenter-console-add-member-to-group'), alice([READERS, WRITERS]));
    expect(add.actions).toEqual([
      expect.objectContaining({ kind: 'onboarding', input: expect.objectContaining({ target: 'orders', dbRoles: ['app_read', 'app_write'] }) }),
    ]);
    // Removed from readers, still a writer: orders stays (re-asserted with what is still granted).
    const removed = decide(m, changeOf('identitycenter-console-remove-member-from-group'), alice([WRITERS]));
    expect(removed.actions).toEqual([
      expect.objectContaining({ kind: 'onboarding', input: expect.objectContaining({ target: 'orders', dbRoles: ['app_write'] }) }),
    ]);
    // Removed from both: the database user goes.
    const gone = decide(m, changeOf('identitycenter-console-remove-member-from-group'), alice([]));
    expect(gone.actions).toEqual([
      {
        kind: 'offboarding',
        input: { target: 'orders', dbUser: 'alice', principalArn: 'arn:aws:iam::123456789012:role/db-alice', idpUser: `identity-center:${ALICE}` },
      },
    ]);
  });

  it('ends in the state the provider shows now: a removal that arrives before its add, an add for someone deactivated or gone', () => {
    const m = mapping();
    // The directory already shows alice in readers again: the late removal changes nothing against it.
    expect(decide(m, changeOf('identitycenter-console-remove-member-from-group'), alice([READERS])).actions[0].kind).toBe('onboarding');
    expect(decide(m, changeOf('identitycenter-console-add-member-to-group'), alice([READERS], false)).actions).toEqual([
      expect.objectContaining({ kind: 'offboarding' }),
    ]);
    // Gone from the directory and the event names no login: nothing can be derived (logged).
    expect(decide(m, changeOf('identitycenter-console-add-member-to-group'), undefined)).toMatchObject({
      actions: [],
      note: expect.stringContaining('not in the directory'),
    });
    // Okta names the login: the offboarding can be derived.
    expect(
      decide(mapping(), { ...changeOf('okta-group-user-membership-add'), group: { id: 'x', name: 'db-reporting' } } as IdentityChange, undefined).actions,
    ).toEqual([
      {
        kind: 'offboarding',
        input: { target: 'analytics', dbUser: 'alice', principalArn: 'arn:aws:iam::123456789012:role/db-alice', idpUser: 'okta:00u1a11ce2example3x7' },
      },
    ]);
  });

  it('deactivation and deletion are not decided from a templated name (the recorded database users are reconciled)', () => {
    for (const f of ['identitycenter-console-disable-user', 'identitycenter-console-delete-user', 'okta-user-lifecycle-deactivate']) {
      expect(() => decide(mapping(), changeOf(f), alice([READERS]))).toThrow(/reconciled/);
    }
  });

  it('an unmapped group changes nothing, with a note', () => {
    const okta = changeOf('okta-group-user-membership-add');
    expect(decide(mapping(), okta, alice([READERS]))).toEqual({ actions: [], note: 'group db-orders-readers is not mapped' });
  });

  it('groups are matched by id or by name (Okta names them)', () => {
    const okta = { ...changeOf('okta-group-user-membership-add'), group: { id: '00g-other', name: 'db-reporting' } } as IdentityChange;
    const d = decide(mapping(), okta, { ...alice([]), groups: [{ id: '00g-other', name: 'db-reporting' }] });
    expect(d.actions).toEqual([
      expect.objectContaining({ kind: 'onboarding', input: expect.objectContaining({ target: 'analytics', dbRoles: ['reporting'] }) }),
    ]);
  });

  it('through a shared role: onboard with the session tag, offboard without touching the shared statement', () => {
    const m = mapping(
      { kind: 'shared', roleArn: 'arn:aws:iam::123456789012:role/AWSReservedSSO_DatabaseUsers_0123', tagKey: 'db_user', dbUserPrefix: 'sso_' },
      'sso_{userNameLocalPart}',
    );
    expect(decide(m, changeOf('identitycenter-console-add-member-to-group'), alice([READERS])).actions[0]).toEqual({
      kind: 'onboarding',
      input: {
        target: 'orders',
        principalArn: 'arn:aws:iam::123456789012:role/AWSReservedSSO_DatabaseUsers_0123',
        dbUser: 'sso_alice',
        dbRoles: ['app_read'],
        databases: ['app'],
        sessionTagKey: 'db_user',
        idpUser: `identity-center:${ALICE}`,
        exclusiveRoles: true,
      },
    });
    expect(decide(m, changeOf('identitycenter-console-remove-member-from-group'), alice([])).actions[0]).toEqual({
      kind: 'offboarding',
      input: { target: 'orders', dbUser: 'sso_alice', idpUser: `identity-center:${ALICE}` },
    });
  });

  it('a user name the templates cannot turn into a database user is refused, not guessed', () => {
    expect(() => decide(mapping(), changeOf('identitycenter-console-add-member-to-group'), { ...alice([READERS]), userName: 'rds_admin@example.com' })).toThrow(
      /idp.dbUserTemplate/,
    );
  });
});

describe('Identity Store directory', () => {
  const store = mockClient(IdentitystoreClient);
  afterEach(() => store.reset());

  it('reads the user, all their groups (paged) with names, and their status', async () => {
    store.on(DescribeUserCommand).resolves({ IdentityStoreId: 'd-1234567890', UserId: ALICE, UserName: 'alice@example.com', UserStatus: 'ENABLED' });
    store
      .on(ListGroupMembershipsForMemberCommand)
      .resolvesOnce({ GroupMemberships: [{ IdentityStoreId: 'd-1234567890', GroupId: READERS, MemberId: { UserId: ALICE } }], NextToken: 't' })
      .resolvesOnce({ GroupMemberships: [{ IdentityStoreId: 'd-1234567890', GroupId: WRITERS, MemberId: { UserId: ALICE } }] });
    store.on(DescribeGroupCommand, { GroupId: READERS }).resolves({ IdentityStoreId: 'd-1234567890', GroupId: READERS, DisplayName: 'db-orders-readers' });
    store.on(DescribeGroupCommand, { GroupId: WRITERS }).resolves({ IdentityStoreId: 'd-1234567890', GroupId: WRITERS, DisplayName: 'db-writers' });
    const person = await identityStoreDirectory(new IdentitystoreClient({ region: 'eu-west-1' }), 'd-1234567890').person({ id: ALICE });
    expect(person).toEqual({
      userId: ALICE,
      userName: 'alice@example.com',
      active: true,
      groups: [
        { id: READERS, name: 'db-orders-readers' },
        { id: WRITERS, name: 'db-writers' },
      ],
    });
    expect(store.commandCalls(ListGroupMembershipsForMemberCommand).map((c) => c.args[0].input)).toEqual([
      { IdentityStoreId: 'd-1234567890', MemberId: { UserId: ALICE } },
      { IdentityStoreId: 'd-1234567890', MemberId: { UserId: ALICE }, NextToken: 't' },
    ]);
  });

  it('a disabled user is inactive; a deleted one is undefined', async () => {
    store
      .on(DescribeUserCommand)
      .resolvesOnce({ IdentityStoreId: 'd-1234567890', UserId: ALICE, UserName: 'alice', UserStatus: 'DISABLED' })
      .rejectsOnce(new ResourceNotFoundException({ message: 'no user', $metadata: {} }));
    store.on(ListGroupMembershipsForMemberCommand).resolves({ GroupMemberships: [] });
    const dir = identityStoreDirectory(new IdentitystoreClient({ region: 'eu-west-1' }), 'd-1234567890');
    expect((await dir.person({ id: ALICE }))?.active).toBe(false);
    expect(await dir.person({ id: ALICE })).toBeUndefined();
  });
});
