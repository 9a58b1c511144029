import { createHash } from 'node:crypto';
import { MAX_ATTEMPTS } from '../core/requests';

/**
 * A request runs as one or more attempts, each its own Step Functions execution: the first is named by the
 * request id, attempt n (2 and up) `<requestId>.<n>`. A request id never holds a dot (REQUEST_ID_PATTERN) and an
 * execution name may, so no attempt name is ever another request's id, and an attempt name says which request it
 * belongs to without reading it. Names are deterministic: retries racing for attempt n all name the same execution,
 * and Step Functions starts it once.
 */
export const EXECUTION_NAME_MAX = 80;
const SEPARATOR = '.';
/** 64 bits of SHA-256 stand for the cut-off end of an id too long to take a suffix. */
const DIGEST_CHARS = 16;

export const attemptName = (requestId: string, attempt: number): string => {
  if (attempt === 1) return requestId;
  const suffix = `${SEPARATOR}${attempt}`;
  if (requestId.length + suffix.length <= EXECUTION_NAME_MAX) return `${requestId}${suffix}`;
  // Two dots where the short form has one: a shortened name is never the full name of a shorter id.
  const tail = `${SEPARATOR}${createHash('sha256').update(requestId).digest('hex').slice(0, DIGEST_CHARS)}${suffix}`;
  return `${requestId.slice(0, EXECUTION_NAME_MAX - tail.length)}${tail}`;
};

/**
 * The request and attempt an execution is, from its name and input. The input's claim counts only when the name is
 * the one it implies: an execution started directly in Step Functions can bear any name and any input.
 */
export const attemptOf = (name: string, input: Record<string, unknown>): { requestId: string; attempt: number } => {
  const { requestId, attempt } = input;
  if (
    typeof requestId === 'string' &&
    typeof attempt === 'number' &&
    Number.isInteger(attempt) &&
    attempt >= 2 &&
    attempt <= MAX_ATTEMPTS &&
    attemptName(requestId, attempt) === name
  ) {
    return { requestId, attempt };
  }
  return { requestId: name, attempt: 1 };
};

/**
 * Every attempt of a request, in order, as `read` finds them. Attempts start one after the other (a retry needs
 * the latest to have ended), so the first number `read` does not find ends the list.
 */
export const readAttempts = async <T>(requestId: string, read: (name: string, attempt: number) => Promise<T | undefined>): Promise<T[]> => {
  const found: T[] = [];
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const one = await read(attemptName(requestId, attempt), attempt);
    if (one === undefined) break;
    found.push(one);
  }
  return found;
};
