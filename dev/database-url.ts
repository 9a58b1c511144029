import type { LocalPostgres } from './embedded-postgres';
import { SQLSTATE } from '../functions/lib/postgres/sqlstate';

/**
 * DATABASE_URL: an existing PostgreSQL server instead of the embedded one, its user acting as the targets'
 * master user. Every error names the variable and what was tried (host, port, user, database), never the password.
 */
export const DATABASE_URL = 'DATABASE_URL';
const EXPECTED = 'expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://...)';

/** What a connection through the URL tries: everything but the password. */
export interface Attempt {
  host: string;
  port: number;
  user: string;
  database: string;
}

export const describeAttempt = (a: Attempt): string => `host ${a.host}, port ${a.port}, user "${a.user}", database "${a.database}"`;

/** The server of DATABASE_URL; refused with a message that does not echo the value (it holds a password). */
export const serverFromUrl = (databaseUrl: string): LocalPostgres => {
  let u: URL;
  try {
    u = new URL(databaseUrl);
  } catch {
    throw new Error(`${DATABASE_URL} is not a URL: ${EXPECTED}`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`${DATABASE_URL} has the scheme "${u.protocol}": ${EXPECTED}`);
  if (!u.hostname) throw new Error(`${DATABASE_URL} names no host: ${EXPECTED}`);
  const masterUser = decodeURIComponent(u.username);
  if (!masterUser) throw new Error(`${DATABASE_URL} names no user (host ${u.hostname}): ${EXPECTED}; that user acts as the master user`);
  const masterPassword = decodeURIComponent(u.password);
  const port = Number(u.port || 5432);
  return {
    host: u.hostname,
    port,
    masterUser,
    masterPassword,
    superUser: masterUser,
    superPassword: masterPassword,
    url: (user = masterUser, database = 'postgres') => {
      const v = new URL(databaseUrl);
      v.username = encodeURIComponent(user);
      if (user !== masterUser) v.password = '';
      v.pathname = `/${database}`;
      return v.toString();
    },
    stop: async () => undefined,
  };
};

/** Why a connection failed, in words a user can act on (SQLSTATE or socket error code, never the message text alone). */
const reasonOf = (e: Error & { code?: string }): string => {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused: is PostgreSQL running and listening there?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'ETIMEDOUT':
      return 'no answer (timed out): is the host reachable?';
    case SQLSTATE.invalidPassword:
      return 'password authentication failed: check the user and password';
    case SQLSTATE.invalidAuthorizationSpecification:
      return `the server refuses this login (${e.message})`;
    case SQLSTATE.invalidCatalogName:
      return 'that database does not exist';
    default:
      return e.message;
  }
};

/** The error of a failed connection through DATABASE_URL, with what was tried. */
export const connectionError = (e: unknown, attempt: Attempt): Error =>
  new Error(`${DATABASE_URL}: cannot connect to PostgreSQL (tried ${describeAttempt(attempt)}): ${reasonOf(e as Error & { code?: string })}`);
