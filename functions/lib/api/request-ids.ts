import { createHash } from 'node:crypto';
import { invalid } from '../core/errors';
import { IDP_REQUEST_ID_PREFIX } from '../idp/events';
import { EXECUTION_NAME_MAX } from './attempts';
import type { Authorization } from './authorization';

/**
 * Request ids are execution names: one namespace per state machine, first come first served. So
 * each self-service caller gets a namespace of its own, `self-` + a digest of its principal + the id
 * it chose: no caller can take an id an administrator, the identity provider or another caller will
 * use (and make their request a 409), nor replay one (and so read it). Replays stay idempotent: the
 * same principal with the same id names the same execution. Administrators use ids as given, except
 * the prefixes the API and the identity-provider handler give out.
 */
export const SELF_SERVICE_PREFIX = 'self-';
const RESERVED_PREFIXES = [SELF_SERVICE_PREFIX, IDP_REQUEST_ID_PREFIX];

/** 64 bits of SHA-256: nobody can name a principal that lands in another's namespace. */
const DIGEST_CHARS = 16;
const OWN_ID_MAX = EXECUTION_NAME_MAX - SELF_SERVICE_PREFIX.length - DIGEST_CHARS - 1;
const OWN_ID = new RegExp(`^[A-Za-z0-9_-]{1,${OWN_ID_MAX}}$`);

/** The namespace of a principal's self-service requests (`owner` without path: the same for every path and session). */
export const selfServiceNamespace = (owner: string): string =>
  `${SELF_SERVICE_PREFIX}${createHash('sha256').update(owner).digest('hex').slice(0, DIGEST_CHARS)}-`;

/**
 * The execution name of a request whose client sent `clientId` (or was given a generated one). Anything
 * but a string is left to request validation, which names the field.
 */
export const requestIdOf = (authorization: Authorization, clientId: unknown): unknown => {
  if (typeof clientId !== 'string') return clientId;
  if (authorization.admin) {
    const reserved = RESERVED_PREFIXES.find((p) => clientId.startsWith(p));
    if (reserved)
      throw invalid(
        'requestId',
        `"${clientId}" starts with "${reserved}", which is reserved (self-: self-service requests, idp-: identity-provider events); choose another id`,
      );
    return clientId;
  }
  if (!OWN_ID.test(clientId)) {
    throw invalid(
      'requestId',
      `must be 1-${OWN_ID_MAX} characters of letters, digits, _ and - (a self-service request id is put in ` +
        `the caller's own namespace, ${SELF_SERVICE_PREFIX}<digest>-, to at most ${EXECUTION_NAME_MAX})`,
    );
  }
  return `${selfServiceNamespace(authorization.owner)}${clientId}`;
};
