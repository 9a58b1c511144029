import {
  DescribeGroupCommand,
  DescribeUserCommand,
  GetGroupIdCommand,
  type IdentitystoreClient,
  ListGroupMembershipsCommand,
  ListGroupMembershipsForMemberCommand,
  ListUsersCommand,
} from '@aws-sdk/client-identitystore';
import { mapAwsError } from '../core/aws-errors';
import { ProvisioningError } from '../core/errors';
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
  /**
   * Everyone in any of `groups` now (by id, or by name when the mapping names it), each with those of `groups` they are
   * in: what a reconcile of the whole mapping needs, in a few paged listings instead of two reads per person. Only
   * where reconciling the whole mapping is supported.
   */
  everyone?: (groups: GroupRef[]) => Promise<Map<string, Person>>;
}

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
        if (NOT_FOUND.has((e as Error).name)) return undefined;
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
          if (NOT_FOUND.has((e as Error).name)) continue;
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

/** Okta statuses in which a person can still sign in; STAGED, PROVISIONED, SUSPENDED and DEPROVISIONED cannot. */
const OKTA_ACTIVE = new Set(['ACTIVE', 'PASSWORD_EXPIRED', 'LOCKED_OUT', 'RECOVERY']);

/**
 * The next page of an Okta list (RFC 8288 Link header, rel="next"), resolved against the page it came
 * with. The API token goes with every request, so a link is followed only to the configured org itself
 * (https, same host, default port, no user info): a Link header from a proxy, a compromised or spoofed
 * answer must not carry the token anywhere else.
 */
const nextLink = (link: string | null, page: string, orgUrl: string): string | undefined => {
  const next = link
    ?.split(',')
    .map((l) => /<([^>]+)>;\s*rel="next"/.exec(l)?.[1])
    .find((u) => u !== undefined);
  if (next === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(next, page);
  } catch {
    throw new ProvisioningError('IdentityProviderUnavailable', `Okta's Link header names a next page that is not a URL; not followed`);
  }
  const org = new URL(orgUrl);
  if (url.protocol !== 'https:' || url.host !== org.host || url.port !== '' || url.username !== '' || url.password !== '') {
    throw new ProvisioningError(
      'IdentityProviderUnavailable',
      `Okta's Link header names a next page at ${url.protocol}//${url.host}, not the configured org ${org.origin}: not followed (the API token is sent to the org only)`,
    );
  }
  return url.href;
};

/** Okta's Users API: the person's status and login, and their groups (paged). */
export const oktaDirectory = (orgUrl: string, token: () => Promise<string>, fetchImpl: typeof fetch = fetch): IdentityDirectory => {
  const get = async (url: string): Promise<Response | undefined> => {
    // No redirects either: the token must reach the org and nothing else.
    const res = await fetchImpl(url, { headers: { Authorization: `SSWS ${await token()}`, Accept: 'application/json' }, redirect: 'error' });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new ProvisioningError('IdentityProviderUnavailable', `Okta answered ${res.status} for ${new URL(url).pathname}`);
    return res;
  };
  return {
    person: async (user) => {
      const base = `${orgUrl}/api/v1/users/${encodeURIComponent(user.id)}`;
      const res = await get(base);
      if (!res) return undefined;
      const u = (await res.json()) as { status?: string; profile?: { login?: string } };
      const groups: GroupRef[] = [];
      for (let url: string | undefined = `${base}/groups`; url; ) {
        const page = await get(url);
        if (!page) break;
        for (const g of (await page.json()) as Array<{ id?: string; profile?: { name?: string } }>)
          if (g.id) groups.push({ id: g.id, ...(g.profile?.name ? { name: g.profile.name } : {}) });
        url = nextLink(page.headers.get('link'), url, orgUrl);
      }
      return { userId: user.id, userName: u.profile?.login ?? user.login ?? user.id, active: OKTA_ACTIVE.has(u.status ?? ''), groups };
    },
  };
};
