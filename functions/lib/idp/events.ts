import { createHash } from 'node:crypto';
import { ProvisioningError } from '../core/errors';

/**
 * Identity-provider events, whatever their source, as one of a few changes. Parsing is pure and
 * strict: a relevant event missing what it needs is malformed (it goes to the dead-letter queue
 * with the reason); an event about something else is ignored with a reason (a log line).
 * Shapes: test/fixtures/idp (each provider's documented examples, sources in its README).
 */
export type IdpSource = 'identity-center' | 'identity-store' | 'iam' | 'okta';

export interface UserRef {
  /** Identity Store user id, or Okta user id. */
  id: string;
  /** Okta: the login (usually the e-mail address); Identity Center events carry only ids. */
  login?: string;
  identityStoreId?: string;
}

export interface GroupRef {
  id: string;
  /** Okta carries the group's name; Identity Center only its id. */
  name?: string;
}

interface Base {
  source: IdpSource;
  /** Stable across redelivery and across the copies replicated Regions send: the execution names derive from it. */
  eventId: string;
}

export type IdentityChange =
  | (Base & { change: 'membership-added' | 'membership-removed'; user: UserRef; group: GroupRef })
  /** Identity Store's DeleteGroupMembership names only the membership: whose it was, only a reconcile can tell. */
  | (Base & { change: 'membership-deleted'; membershipId: string; identityStoreId: string })
  | (Base & { change: 'user-deactivated' | 'user-deleted'; user: UserRef })
  | (Base & { change: 'principal-deleted'; principal: { type: 'role' | 'user'; name: string; accountId: string } })
  /** Identity Store's own notifications: the type says what kind of thing changed; the whole mapping is reconciled. */
  | (Base & { change: 'directory-changed'; detailType: string /** The envelope's `time` (ms), when it is one. */; changedAt?: number });

export type ParsedEvent = { kind: 'change'; change: IdentityChange } | { kind: 'ignored'; reason: string };

const malformed = (reason: string): ProvisioningError =>
  new ProvisioningError('ValidationError', `malformed identity event: ${reason}`, { details: { reason } });

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const text = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v.length === 0) throw malformed(`${what} is missing`);
  return v;
};

const ignored = (reason: string): ParsedEvent => ({ kind: 'ignored', reason });
const change = (c: IdentityChange): ParsedEvent => ({ kind: 'change', change: c });

/** CloudTrail records via EventBridge ("AWS API Call via CloudTrail"): the record is `detail`. */
const fromCloudTrail = (source: string, envelope: Json, d: Json): ParsedEvent => {
  const name = text(d.eventName, 'detail.eventName');
  if (d.errorCode !== undefined) return ignored(`${name} failed (${String(d.errorCode)}): nothing changed`);
  const eventId = text(d.eventID, 'detail.eventID');
  const rp = obj(d.requestParameters) ?? {};
  const storeId = typeof rp.identityStoreId === 'string' ? rp.identityStoreId : undefined;
  const user = (id: unknown, what: string): UserRef => ({ id: text(id, what), ...(storeId ? { identityStoreId: storeId } : {}) });
  switch (source) {
    case 'aws.sso-directory': {
      const base = { source: 'identity-center' as const, eventId };
      // The console's calls: the member as member.memberId (captured) or memberId (as some consumers read it).
      const memberId = obj(rp.member)?.memberId ?? rp.memberId;
      if (name === 'AddMemberToGroup')
        return change({
          ...base,
          change: 'membership-added',
          user: user(memberId, 'requestParameters.member.memberId'),
          group: { id: text(rp.groupId, 'requestParameters.groupId') },
        });
      if (name === 'RemoveMemberFromGroup')
        return change({
          ...base,
          change: 'membership-removed',
          user: user(memberId, 'requestParameters.memberId'),
          group: { id: text(rp.groupId, 'requestParameters.groupId') },
        });
      if (name === 'DisableUser') return change({ ...base, change: 'user-deactivated', user: user(rp.userId, 'requestParameters.userId') });
      if (name === 'DeleteUser') return change({ ...base, change: 'user-deleted', user: user(rp.userId, 'requestParameters.userId') });
      return ignored(`sso-directory ${name} does not change database access`);
    }
    case 'aws.identitystore': {
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
    }
    case 'aws.iam': {
      const accountId = text(d.recipientAccountId ?? envelope.account, 'detail.recipientAccountId');
      if (name === 'DeleteRole')
        return change({
          source: 'iam',
          eventId,
          change: 'principal-deleted',
          principal: { type: 'role', name: text(rp.roleName, 'requestParameters.roleName'), accountId },
        });
      if (name === 'DeleteUser')
        return change({
          source: 'iam',
          eventId,
          change: 'principal-deleted',
          principal: { type: 'user', name: text(rp.userName, 'requestParameters.userName'), accountId },
        });
      return ignored(`iam ${name} does not change database access`);
    }
    default:
      throw malformed(`CloudTrail events from ${source} are not handled`);
  }
};

const OKTA_SOURCE = /^aws\.partner\/okta\.com\/[^/]+\/[^/]+$/;

/** Okta System Log events through Okta's EventBridge partner event source: the System Log event is `detail`. */
const fromOkta = (d: Json): ParsedEvent => {
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

/** Reads one EventBridge event; throws ValidationError (malformed) or returns the change or why it is ignored. */
export const parseIdentityEvent = (raw: unknown): ParsedEvent => {
  const envelope = obj(raw);
  if (!envelope) throw malformed('not a JSON object');
  const source = text(envelope.source, 'source');
  const detail = obj(envelope.detail);
  if (!detail) throw malformed('detail is missing');
  if (OKTA_SOURCE.test(source)) return fromOkta(detail);
  const detailType = envelope['detail-type'];
  if (detailType === 'AWS API Call via CloudTrail') return fromCloudTrail(source, envelope, detail);
  if (source === 'aws.identitystore' && typeof detailType === 'string') {
    // Native notifications ("User Deleted", ...): their detail is not relied on, only what kind of change it is.
    if (!/^(User|Group Membership) (Created|Updated|Deleted)$/.test(detailType))
      return ignored(`Identity Store "${detailType}" does not change database access`);
    const changedAt = typeof envelope.time === 'string' ? Date.parse(envelope.time) : Number.NaN;
    return change({
      source: 'identity-store',
      eventId: text(envelope.id, 'id'),
      change: 'directory-changed',
      detailType,
      ...(Number.isFinite(changedAt) ? { changedAt } : {}),
    });
  }
  throw malformed(`events from ${source} (${String(envelope['detail-type'])}) are not handled`);
};

/** Every identity-provider execution name starts with it; the API refuses it in ids clients choose. */
export const IDP_REQUEST_ID_PREFIX = 'idp-';

/**
 * The execution name of one database-user change an event causes: derived from the event id and the
 * change, so a redelivered or replicated event names the same executions and starts nothing new.
 */
export const executionNameFor = (change: Pick<IdentityChange, 'source' | 'eventId'>, action: { kind: string; target: string; dbUser: string }): string => {
  // The action itself is in the name: a redelivery decided against a changed directory cannot reuse a name for another change.
  const digest = createHash('sha256')
    .update(JSON.stringify([change.source, change.eventId, action.kind, action.target, action.dbUser]))
    .digest('hex')
    .slice(0, 40);
  return `${IDP_REQUEST_ID_PREFIX}${change.source}-${digest}`;
};
