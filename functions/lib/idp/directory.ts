import { DescribeGroupCommand, DescribeUserCommand, type IdentitystoreClient, ListGroupMembershipsForMemberCommand } from '@aws-sdk/client-identitystore';
import { mapAwsError } from '../aws-errors';
import type { GroupRef, UserRef } from './events';

/**
 * A person as the identity provider shows them now: events say what changed, the directory says
 * what is true, so a late, early or repeated event still ends in the provider's current state.
 */
export interface Person {
  userId: string;
  userName: string;
  active: boolean;
  /** Every group the person belongs to now, with names where the provider has them. */
  groups: GroupRef[];
}

export interface IdentityDirectory {
  /** Undefined when the provider no longer knows the person (deleted). */
  person: (user: UserRef) => Promise<Person | undefined>;
}

const NOT_FOUND = new Set(['ResourceNotFoundException', 'ResourceNotFound']);

/** IAM Identity Center's identity store: DescribeUser, ListGroupMembershipsForMember, DescribeGroup. */
export const identityStoreDirectory = (client: IdentitystoreClient, identityStoreId: string): IdentityDirectory => {
  const groupNames = new Map<string, string | undefined>();
  const groupName = async (groupId: string): Promise<string | undefined> => {
    if (!groupNames.has(groupId)) groupNames.set(groupId, (await client.send(new DescribeGroupCommand({ IdentityStoreId: identityStoreId, GroupId: groupId }))).DisplayName);
    return groupNames.get(groupId);
  };
  return {
    person: async (user) => {
      try {
        const u = await client.send(new DescribeUserCommand({ IdentityStoreId: identityStoreId, UserId: user.id }));
        const groups: GroupRef[] = [];
        let nextToken: string | undefined;
        do {
          const page = await client.send(new ListGroupMembershipsForMemberCommand({ IdentityStoreId: identityStoreId, MemberId: { UserId: user.id }, NextToken: nextToken }));
          for (const m of page.GroupMemberships ?? []) {
            if (!m.GroupId) continue;
            const name = await groupName(m.GroupId);
            groups.push({ id: m.GroupId, ...(name ? { name } : {}) });
          }
          nextToken = page.NextToken;
        } while (nextToken);
        return { userId: user.id, userName: u.UserName ?? user.id, active: u.UserStatus !== 'DISABLED', groups };
      } catch (e) {
        if (NOT_FOUND.has((e as Error).name)) return undefined;
        return mapAwsError(e, `look up identity store user ${user.id}`);
      }
    },
  };
};
