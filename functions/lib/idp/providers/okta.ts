import * as z from 'zod';
import { ProvisioningError } from '../../core/errors';
import type { IdentityDirectory } from '../directory';
import type { GroupRef, UserRef } from '../events';
import { change, type IdentityProvider, ignored, type Json, malformed, obj, text } from './provider';

/**
 * Okta: its System Log events through Okta's EventBridge partner event source (a bus of its own, which the stack
 * references and never creates), and its Users API as the directory (the SSWS API token in a Secrets Manager secret).
 */

const OKTA_SOURCE = /^aws\.partner\/okta\.com\/[^/]+\/[^/]+$/;
const EVENT_TYPES = ['group.user_membership.add', 'group.user_membership.remove', 'user.lifecycle.deactivate', 'user.lifecycle.delete.initiated'];

/** The System Log event is `detail`. */
const fromOkta = (d: Json) => {
  const type = text(d.eventType, 'detail.eventType');
  const eventId = text(d.uuid, 'detail.uuid');
  const result = obj(d.outcome)?.result;
  if (result !== undefined && result !== 'SUCCESS') return ignored(`Okta ${type} did not succeed (${String(result)})`);
  const targets = Array.isArray(d.target) ? d.target.map(obj).filter((t): t is Json => t !== undefined) : [];
  const userTarget = (): UserRef => {
    const t = targets.find((x) => x.type === 'User');
    if (!t) throw malformed(`Okta ${type} has no target of type User`);
    return { id: text(t.id, 'detail.target[User].id'), ...(typeof t.alternateId === 'string' ? { login: t.alternateId } : {}) };
  };
  const groupTarget = (): GroupRef => {
    const t = targets.find((x) => x.type === 'UserGroup');
    if (!t) throw malformed(`Okta ${type} has no target of type UserGroup`);
    return { id: text(t.id, 'detail.target[UserGroup].id'), ...(typeof t.displayName === 'string' ? { name: t.displayName } : {}) };
  };
  const base = { source: 'okta' as const, eventId };
  switch (type) {
    case 'group.user_membership.add':
      return change({ ...base, change: 'membership-added', user: userTarget(), group: groupTarget() });
    case 'group.user_membership.remove':
      return change({ ...base, change: 'membership-removed', user: userTarget(), group: groupTarget() });
    case 'user.lifecycle.deactivate':
      return change({ ...base, change: 'user-deactivated', user: userTarget() });
    case 'user.lifecycle.delete.initiated':
      return change({ ...base, change: 'user-deleted', user: userTarget() });
    default:
      return ignored(`Okta ${type} does not change database access`);
  }
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
      `Okta's Link header names a next page at ${url.protocol}//${url.host}, ` +
        `not the configured org ${org.origin}: not followed (the API token is sent to the org only)`,
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

interface OktaSettings {
  okta?: { orgUrl: string; apiTokenSecretArn: string };
}

/** Its fields of the idp section. */
export const settings = () => ({
  /** Okta's API, to read a person's status and groups now (the token: a Secrets Manager secret, the SSWS API token as its string). */
  okta: z
    .strictObject({
      orgUrl: z.string().regex(/^https:\/\/[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be the https URL of the Okta org, e.g. https://example.okta.com'),
      apiTokenSecretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN'),
    })
    .optional(),
});

/** Its fields of the deployment section. */
export const deployment = () => ({
  /** Okta's EventBridge partner event bus (aws.partner/okta.com/ORG/NAME): a rule on it feeds idpEvents. */
  oktaEventBusName: z
    .string()
    .regex(/^aws\.partner\/okta\.com\/[\w.-]+\/[\w.-]+$/, 'must be the Okta partner event bus name aws.partner/okta.com/ORG/NAME')
    .optional(),
});

/** The SSWS API token, read once per container; a failed read is not kept: the next event tries again. */
const cachedToken = (read: () => Promise<string>): (() => Promise<string>) => {
  let token: Promise<string> | undefined;
  return () => {
    token ??= read();
    return token.catch((e: unknown) => {
      token = undefined;
      throw e;
    });
  };
};

export const provider: IdentityProvider<OktaSettings, ReturnType<typeof settings>, ReturnType<typeof deployment>> = {
  sources: ['okta'],
  accepts: (e) => typeof e.source === 'string' && OKTA_SOURCE.test(e.source),
  parse: (_, detail) => fromOkta(detail),
  settings,
  deployment,
  directory: (idp, deps) => {
    const api = idp.okta;
    return api
      ? oktaDirectory(
          api.orgUrl,
          cachedToken(() => deps.secretString(api.apiTokenSecretArn)),
        )
      : undefined;
  },
  // Okta's partner event bus exists once the partner event source is associated; the stack must never create (or,
  // on removal, delete) it. Given a bus *name*, osls creates an AWS::Events::EventBus; given an ARN it references
  // the bus, and uses only the part after "event-bus/" (the name) as the rule's EventBusName and in the rule ARN of
  // the Lambda permission (rule/BUS/RULE). Region and account here only make the string an ARN.
  eventRules: ({ oktaEventBusName: bus }, home) =>
    bus
      ? [
          {
            name: 'okta',
            eventBus: `arn:${home.partition}:events:${home.region}:${home.accountId}:event-bus/${bus}`,
            pattern: { source: [{ prefix: 'aws.partner/okta.com' }], detail: { eventType: EVENT_TYPES } },
          },
        ]
      : [],
  statements: (idp) =>
    idp?.okta ? [{ Sid: 'ReadOktaApiToken', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: idp.okta.apiTokenSecretArn }] : [],
};
