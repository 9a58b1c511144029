import { createHash } from 'node:crypto';

/**
 * Identity-provider events, whatever their source, as one of a few changes. Parsing (each provider's, in
 * providers/) is pure and strict: a relevant event missing what it needs is malformed (it goes to the dead-letter
 * queue with the reason); an event about something else is ignored with a reason (a log line).
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
