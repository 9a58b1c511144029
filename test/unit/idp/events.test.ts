/**
 * Identity-provider events normalised: each source's documented example events
 * (test/fixtures/idp, sources in its README), ignored ones with a reason, malformed ones refused
 * with one, and execution names that make redelivery start nothing new.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executionNameFor, type IdentityChange } from '../../../functions/lib/idp/events';
import { parseIdentityEvent } from '../../../functions/lib/idp/providers';
import { REQUEST_ID_PATTERN } from '../../../functions/lib/core/requests';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(__dirname, '../../fixtures/idp', `${name}.json`), 'utf8')) as Record<string, unknown>;
const changeOf = (name: string): IdentityChange => {
  const parsed = parseIdentityEvent(fixture(name));
  if (parsed.kind !== 'change') throw new Error(`${name}: ignored (${parsed.reason})`);
  return parsed.change;
};

const ALICE = 'f4a8b4c8-0011-7045-9a2b-3c4d5e6f7a81';
const GROUP = 'c4e8a4d8-2051-70b3-1f0e-9a8b7c6d5e40';

describe('IAM Identity Center (console, CloudTrail sso-directory)', () => {
  it('AddMemberToGroup: the member and the group, by id', () => {
    expect(changeOf('identitycenter-console-add-member-to-group')).toMatchObject({
      source: 'identity-center',
      change: 'membership-added',
      user: { id: ALICE, identityStoreId: 'd-1234567890' },
      group: { id: GROUP },
    });
  });
  it('AddMemberToGroup with legacy store-prefixed ids', () => {
    expect(changeOf('identitycenter-console-add-member-to-group-legacy-ids')).toMatchObject({
      change: 'membership-added',
      user: { id: '1234567890-5b2f3c1e-7a4d-4e8b-9c0d-1e2f3a4b5c6d' },
    });
  });
  it('RemoveMemberFromGroup, DisableUser, DeleteUser', () => {
    expect(changeOf('identitycenter-console-remove-member-from-group')).toMatchObject({
      change: 'membership-removed',
      user: { id: ALICE },
      group: { id: GROUP },
    });
    expect(changeOf('identitycenter-console-disable-user')).toMatchObject({ change: 'user-deactivated', user: { id: ALICE } });
    expect(changeOf('identitycenter-console-delete-user')).toMatchObject({ change: 'user-deleted', user: { id: ALICE } });
  });
});

describe('Identity Store API (CloudTrail identitystore)', () => {
  it('CreateGroupMembership, DeleteGroupMembership (membership id only), DeleteUser', () => {
    expect(changeOf('identitystore-create-group-membership')).toMatchObject({
      source: 'identity-store',
      change: 'membership-added',
      user: { id: ALICE },
      group: { id: GROUP },
    });
    expect(changeOf('identitystore-delete-group-membership')).toEqual({
      source: 'identity-store',
      change: 'membership-deleted',
      eventId: 'd8e9fa0b-1c2d-47de-88ef-60718293a4bc',
      membershipId: 'e4f8c4a8-40a1-7021-6d5c-1b2a39485766',
      identityStoreId: 'd-1234567890',
    });
    expect(changeOf('identitystore-delete-user')).toMatchObject({ change: 'user-deleted', user: { id: ALICE } });
  });
});

describe('IAM (CloudTrail iam)', () => {
  it('DeleteRole and DeleteUser name the principal', () => {
    expect(changeOf('iam-delete-role')).toMatchObject({
      source: 'iam',
      change: 'principal-deleted',
      principal: { type: 'role', name: 'db-orders-readers', accountId: '123456789012' },
    });
    expect(changeOf('iam-delete-user')).toMatchObject({ change: 'principal-deleted', principal: { type: 'user', name: 'alice' } });
  });
});

describe('Okta (EventBridge partner event source)', () => {
  it('membership add / remove carry the user (with login) and the group (with name)', () => {
    expect(changeOf('okta-group-user-membership-add')).toMatchObject({
      source: 'okta',
      change: 'membership-added',
      eventId: '9b1f2a3c-fd70-11ef-8a1b-0242ac120002',
      user: { id: '00u1a11ce2example3x7', login: 'alice@example.com' },
      group: { id: '00g1db0rd3rsexample7', name: 'db-orders-readers' },
    });
    expect(changeOf('okta-group-user-membership-remove')).toMatchObject({ change: 'membership-removed', group: { name: 'db-orders-readers' } });
  });
  it('deactivate and delete.initiated', () => {
    expect(changeOf('okta-user-lifecycle-deactivate')).toMatchObject({ change: 'user-deactivated', user: { login: 'alice@example.com' } });
    expect(changeOf('okta-user-lifecycle-delete-initiated')).toMatchObject({ change: 'user-deleted' });
  });
});

describe('Identity Store notifications (source aws.identitystore, not CloudTrail)', () => {
  const notification = (detailType: string) => ({
    version: '0',
    id: 'n-1',
    'detail-type': detailType,
    source: 'aws.identitystore',
    account: '123456789012',
    time: '2026-11-23T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: { 'event-version': '1.0' },
  });
  it('user and membership changes reconcile the mapping (their detail is not relied on)', () => {
    for (const t of ['User Deleted', 'User Updated', 'Group Membership Created', 'Group Membership Deleted']) {
      expect(parseIdentityEvent(notification(t))).toEqual({
        kind: 'change',
        // The change time decides which reconcile covers it (functions/lib/idp/coalesce.ts).
        change: { source: 'identity-store', eventId: 'n-1', change: 'directory-changed', detailType: t, changedAt: Date.parse('2026-11-23T10:00:00Z') },
      });
    }
    expect(parseIdentityEvent(notification('Group Updated'))).toMatchObject({ kind: 'ignored' });
  });
});

describe('ignored and malformed', () => {
  it('ignores events that change no access, and calls that failed, with a reason', () => {
    const other = fixture('identitystore-create-group-membership');
    const detail = other.detail as Record<string, unknown>;
    expect(parseIdentityEvent({ ...other, detail: { ...detail, eventName: 'CreateUser' } })).toEqual({
      kind: 'ignored',
      reason: 'identitystore CreateUser does not change database access',
    });
    expect(parseIdentityEvent({ ...other, detail: { ...detail, errorCode: 'AccessDenied' } })).toMatchObject({
      kind: 'ignored',
      reason: expect.stringContaining('AccessDenied'),
    });
    const okta = fixture('okta-group-user-membership-add');
    expect(parseIdentityEvent({ ...okta, detail: { ...(okta.detail as object), eventType: 'user.session.start' } })).toMatchObject({ kind: 'ignored' });
    expect(parseIdentityEvent({ ...okta, detail: { ...(okta.detail as object), outcome: { result: 'FAILURE' } } })).toMatchObject({
      kind: 'ignored',
      reason: expect.stringContaining('FAILURE'),
    });
  });

  it.each([
    ['not an object', 'x', 'not a JSON object'],
    ['no detail', { source: 'aws.iam' }, 'detail is missing'],
    ['an unknown source', { source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification', detail: {} }, 'aws.ec2'],
    [
      'a membership without its member',
      (() => {
        const e = fixture('identitycenter-console-add-member-to-group');
        const d = e.detail as { requestParameters: object };
        return { ...e, detail: { ...d, requestParameters: { groupId: 'g' } } };
      })(),
      'memberId',
    ],
    [
      'Okta without a user target',
      (() => {
        const e = fixture('okta-user-lifecycle-deactivate');
        return { ...e, detail: { ...(e.detail as object), target: [] } };
      })(),
      'target of type User',
    ],
    [
      'CloudTrail without an event id',
      (() => {
        const e = fixture('iam-delete-role');
        return { ...e, detail: { ...(e.detail as object), eventID: undefined } };
      })(),
      'eventID',
    ],
  ])('refuses %s with a clear reason (it goes to the dead-letter queue)', (_, event, reason) => {
    expect(() => parseIdentityEvent(event)).toThrow(reason);
    try {
      parseIdentityEvent(event);
    } catch (e) {
      expect((e as Error).name).toBe('ValidationError');
    }
  });
});

describe('execution names', () => {
  it('derive from the event id: a redelivered or replicated copy names the same executions', () => {
    const original = fixture('identitycenter-console-add-member-to-group');
    // Another Region's copy: a new EventBridge id and Region, the same CloudTrail record.
    const copy = { ...original, id: 'another-delivery-id', region: 'us-west-2' };
    const a = changeOf('identitycenter-console-add-member-to-group');
    const parsed = parseIdentityEvent(copy);
    const b = parsed.kind === 'change' ? parsed.change : undefined;
    expect(b).toEqual(a);
    const onboard = { kind: 'onboarding', target: 'orders', dbUser: 'alice' };
    expect(executionNameFor(a, onboard)).toBe(executionNameFor(b as IdentityChange, onboard));
    // The change is in the name: another action of the same event never reuses it.
    expect(executionNameFor(a, onboard)).not.toBe(executionNameFor(a, { ...onboard, kind: 'offboarding' }));
    expect(executionNameFor(a, onboard)).not.toBe(executionNameFor(a, { ...onboard, target: 'analytics' }));
    expect(executionNameFor(a, onboard)).not.toBe(executionNameFor(changeOf('identitycenter-console-remove-member-from-group'), onboard));
    expect(executionNameFor(a, onboard)).toMatch(REQUEST_ID_PATTERN);
  });
});
