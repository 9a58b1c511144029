import {
  DescribeGroupCommand,
  DescribeUserCommand,
  GetGroupIdCommand,
  type IdentitystoreClient,
  ListGroupMembershipsCommand,
  ListGroupMembershipsForMemberCommand,
  ListUsersCommand,
} from '@aws-sdk/client-identitystore';
import * as z from 'zod';
import { partitionOfRegion } from '../../core/arn';
import { isAwsError, mapAwsError } from '../../core/aws-errors';
import type { GroupRef, UserRef } from '../events';
import type { IdentityDirectory, Person } from '../directory';
import { CLOUDTRAIL, change, cloudTrailPattern, cloudTrailRecord, type IdentityProvider, ignored, isCloudTrail, type Json, obj, text } from './provider';

/**
 * IAM Identity Center and its identity store: group memberships and users changed in the console or the Identity Store
 * API (CloudTrail records on the default bus), the store's own notifications ("User Deleted", ...), and the store
 * itself as the directory. Shapes: test/fixtures/idp (sources in its README).
 */

/** The console's calls (aws.sso-directory) and the Identity Store API's (aws.identitystore) that change access. */
const SSO_DIRECTORY_CALLS = ['AddMemberToGroup', 'RemoveMemberFromGroup', 'DisableUser', 'DeleteUser'];
const IDENTITY_STORE_CALLS = ['CreateGroupMembership', 'DeleteGroupMembership'];

const fromCloudTrail = (source: string, d: Json) => {
  const record = cloudTrailRecord(d);
  if ('ignored' in record) return record.ignored;
  const { name, eventId, parameters: rp } = record;
  const storeId = typeof rp.identityStoreId === 'string' ? rp.identityStoreId : undefined;
  const user = (id: unknown, what: string): UserRef => ({ id: text(id, what), ...(storeId ? { identityStoreId: storeId } : {}) });
  if (source === 'aws.sso-directory') {
    const base = { source: 'identity-center' as const, eventId };
    // The console's calls: the member as member.memberId (captured) or memberId (as some consumers read it).
    const memberId = obj(rp.member)?.memberId ?? rp.memberId;
    const added = name === 'AddMemberToGroup';
    if (added || name === 'RemoveMemberFromGroup')
      return change({
        ...base,
        change: added ? 'membership-added' : 'membership-removed',
        user: user(memberId, added ? 'requestParameters.member.memberId' : 'requestParameters.memberId'),
        group: { id: text(rp.groupId, 'requestParameters.groupId') },
      });
    if (name === 'DisableUser') return change({ ...base, change: 'user-deactivated', user: user(rp.userId, 'requestParameters.userId') });
    if (name === 'DeleteUser') return change({ ...base, change: 'user-deleted', user: user(rp.userId, 'requestParameters.userId') });
    return ignored(`sso-directory ${name} does not change database access`);
  }
  const base = { source: 'identity-store' as const, eventId };
  if (name === 'CreateGroupMembership') {
    return change({
      ...base,
      change: 'membership-added',
      user: user(obj(rp.memberId)?.userId, 'requestParameters.memberId.userId'),
      group: { id: text(rp.groupId, 'requestParameters.groupId') },
    });
  }
  if (name === 'DeleteGroupMembership') {
    return change({
      ...base,
      change: 'membership-deleted',
      membershipId: text(rp.membershipId, 'requestParameters.membershipId'),
      identityStoreId: text(storeId, 'requestParameters.identityStoreId'),
    });
  }
  if (name === 'DeleteUser') return change({ ...base, change: 'user-deleted', user: user(rp.userId, 'requestParameters.userId') });
  return ignored(`identitystore ${name} does not change database access`);
};

/** Native notifications ("User Deleted", ...): their detail is not relied on, only what kind of change it is. */
const fromNotification = (envelope: Json, detailType: string) => {
  if (!/^(User|Group Membership) (Created|Updated|Deleted)$/.test(detailType)) return ignored(`Identity Store "${detailType}" does not change database access`);
  const changedAt = typeof envelope.time === 'string' ? Date.parse(envelope.time) : Number.NaN;
  return change({
    source: 'identity-store',
    eventId: text(envelope.id, 'id'),
    change: 'directory-changed',
    detailType,
    ...(Number.isFinite(changedAt) ? { changedAt } : {}),
  });
};

/** The most items the Identity Store API returns per page. */
const PAGE = 100;

const NOT_FOUND = new Set(['ResourceNotFoundException', 'ResourceNotFound']);

/** IAM Identity Center's identity store: DescribeUser, ListGroupMembershipsForMember, DescribeGroup. */
export const identityStoreDirectory = (client: IdentitystoreClient, identityStoreId: string): IdentityDirectory => {
  const groupNames = new Map<string, string | undefined>();
  const groupName = async (groupId: string): Promise<string | undefined> => {
    if (!groupNames.has(groupId))
      groupNames.set(groupId, (await client.send(new DescribeGroupCommand({ IdentityStoreId: identityStoreId, GroupId: groupId }))).DisplayName);
    return groupNames.get(groupId);
  };
  return {
    person: async (user) => {
      try {
        const u = await client.send(new DescribeUserCommand({ IdentityStoreId: identityStoreId, UserId: user.id }));
        const groups: GroupRef[] = [];
        let nextToken: string | undefined;
        do {
          const page = await client.send(
            new ListGroupMembershipsForMemberCommand({ IdentityStoreId: identityStoreId, MemberId: { UserId: user.id }, NextToken: nextToken }),
          );
          for (const m of page.GroupMemberships ?? []) {
            if (!m.GroupId) continue;
            const name = await groupName(m.GroupId);
            groups.push({ id: m.GroupId, ...(name ? { name } : {}) });
          }
          nextToken = page.NextToken;
        } while (nextToken);
        return { userId: user.id, userName: u.UserName ?? user.id, active: u.UserStatus !== 'DISABLED', groups };
      } catch (e) {
        if (isAwsError(e, ...NOT_FOUND)) return undefined;
        return mapAwsError(e, `look up identity store user ${user.id}`);
      }
    },
    everyone: async (groups) => {
      const memberships = new Map<string, GroupRef[]>();
      for (const group of groups) {
        let groupId = group.id;
        try {
          if (group.name !== undefined) {
            groupId =
              (
                await client.send(
                  new GetGroupIdCommand({
                    IdentityStoreId: identityStoreId,
                    AlternateIdentifier: { UniqueAttribute: { AttributePath: 'displayName', AttributeValue: group.name } },
                  }),
                )
              ).GroupId ?? group.id;
          }
          let nextToken: string | undefined;
          do {
            const page = await client.send(
              new ListGroupMembershipsCommand({ IdentityStoreId: identityStoreId, GroupId: groupId, NextToken: nextToken, MaxResults: PAGE }),
            );
            for (const m of page.GroupMemberships ?? []) {
              if (!m.MemberId || !('UserId' in m.MemberId) || !m.MemberId.UserId) continue;
              const list = memberships.get(m.MemberId.UserId) ?? [];
              list.push({ id: groupId, ...(group.name !== undefined ? { name: group.name } : {}) });
              memberships.set(m.MemberId.UserId, list);
            }
            nextToken = page.NextToken;
          } while (nextToken);
        } catch (e) {
          // A mapped group that does not exist (any more) has no members; anything else fails the reconcile.
          if (isAwsError(e, ...NOT_FOUND)) continue;
          return mapAwsError(e, `list the members of group ${group.name ?? group.id}`);
        }
      }
      // Names and statuses of all users at 100 a page: fewer calls than one DescribeUser per member once a mapped
      // population is 1% of the store.
      const people = new Map<string, Person>();
      try {
        let nextToken: string | undefined;
        do {
          const page = await client.send(new ListUsersCommand({ IdentityStoreId: identityStoreId, NextToken: nextToken, MaxResults: PAGE }));
          for (const u of page.Users ?? []) {
            const groupsOf = u.UserId !== undefined ? memberships.get(u.UserId) : undefined;
            if (!u.UserId || !groupsOf) continue;
            people.set(u.UserId, { userId: u.UserId, userName: u.UserName ?? u.UserId, active: u.UserStatus !== 'DISABLED', groups: groupsOf });
          }
          nextToken = page.NextToken;
        } while (nextToken);
      } catch (e) {
        return mapAwsError(e, 'list the users of the identity store');
      }
      // A member ListUsers did not show was deleted between the listings: not in the store, so not counted.
      return people;
    },
  };
};

/** Its fields of the idp section. */
export const settings = () => ({
  /** IAM Identity Center's identity store, to look people and their groups up (events carry ids only). */
  identityStoreId: z
    .string()
    .regex(/^d-[0-9a-f]{10}$/, 'must be an identity store id (d-...)')
    .optional(),
  /** The Region of IAM Identity Center (its identity store); default: the stack's. */
  identityStoreRegion: z
    .string()
    .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'must be an AWS Region code')
    .optional(),
});

/** Its fields of the deployment section: none (its rules are on the default bus). */
export const deployment = () => ({});

export const provider: IdentityProvider<
  { identityStoreId?: string; identityStoreRegion?: string },
  ReturnType<typeof settings>,
  ReturnType<typeof deployment>
> = {
  sources: ['identity-center', 'identity-store'],
  accepts: (e) =>
    isCloudTrail(e, 'aws.sso-directory') || isCloudTrail(e, 'aws.identitystore') || (e.source === 'aws.identitystore' && typeof e['detail-type'] === 'string'),
  parse: (envelope, detail) =>
    envelope['detail-type'] === CLOUDTRAIL ? fromCloudTrail(String(envelope.source), detail) : fromNotification(envelope, String(envelope['detail-type'])),
  settings,
  deployment,
  directory: (idp, deps) =>
    idp.identityStoreId ? identityStoreDirectory(deps.identitystore(idp.identityStoreRegion ?? deps.region ?? 'us-east-1'), idp.identityStoreId) : undefined,
  eventRules: () => [
    { name: 'identity-center', pattern: cloudTrailPattern(['aws.sso-directory', 'aws.identitystore'], [...SSO_DIRECTORY_CALLS, ...IDENTITY_STORE_CALLS]) },
    // Identity Store's own notifications ("User Deleted", ...): the mapping is reconciled.
    { name: 'identity-store-notifications', pattern: { source: ['aws.identitystore'], 'detail-type': [{ prefix: 'User ' }, { prefix: 'Group Membership ' }] } },
  ],
  statements: (idp, home) => {
    if (!idp?.identityStoreId) return [];
    const partition = idp.identityStoreRegion ? partitionOfRegion(idp.identityStoreRegion) : home.partition;
    return [
      {
        Sid: 'ReadIdentityStore',
        Effect: 'Allow',
        Action: [
          'identitystore:DescribeUser',
          'identitystore:ListGroupMembershipsForMember',
          'identitystore:DescribeGroup',
          'identitystore:ListGroupMemberships',
          'identitystore:GetGroupId',
          'identitystore:ListUsers',
        ],
        Resource: [
          `arn:${partition}:identitystore::${home.accountId}:identitystore/${idp.identityStoreId}`,
          `arn:${partition}:identitystore:::user/*`,
          `arn:${partition}:identitystore:::group/*`,
          `arn:${partition}:identitystore:::membership/*`,
        ],
      },
    ];
  },
};
