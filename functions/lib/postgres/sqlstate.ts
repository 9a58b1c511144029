import { ProvisioningError } from '../core/errors';

/**
 * PostgreSQL errors are classified by SQLSTATE, never by message text: servers run in
 * other locales (lc_messages), and messages change between versions.
 */
/** The SQLSTATEs this project acts on, by their PostgreSQL condition names (Appendix A of the PostgreSQL manual). */
export const SQLSTATE = {
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  /** "tuple concurrently updated": concurrent catalog updates (two GRANTs rewriting one ACL). */
  internalError: 'XX000',
  duplicateObject: '42710',
  lockNotAvailable: '55P03',
  queryCanceled: '57014',
  tooManyConnections: '53300',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  insufficientPrivilege: '42501',
  invalidCatalogName: '3D000',
  dependentObjectsStillExist: '2BP01',
  /** Class 08, connection exception: every code starting with it. */
  connectionExceptionClass: '08',
  /** Class 28, invalid authorization specification. */
  invalidAuthorizationClass: '28',
  invalidAuthorizationSpecification: '28000',
  invalidPassword: '28P01',
} as const;

const TRANSIENT_SQLSTATES = new Set<string>([
  SQLSTATE.serializationFailure,
  SQLSTATE.deadlockDetected,
  SQLSTATE.internalError,
  // A concurrent request created the same role first; the retry sees it.
  SQLSTATE.duplicateObject,
  // lock_timeout
  SQLSTATE.lockNotAvailable,
  // statement_timeout
  SQLSTATE.queryCanceled,
  SQLSTATE.tooManyConnections,
  // failover, reboot
  SQLSTATE.adminShutdown,
  SQLSTATE.crashShutdown,
  // starting up
  SQLSTATE.cannotConnectNow,
]);

/** Socket-level failures node reports with an errno code instead of a SQLSTATE. */
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export const sqlstateOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

export const isTransientPgError = (e: unknown): boolean => {
  const code = sqlstateOf(e);
  if (!code) return false;
  return TRANSIENT_SQLSTATES.has(code) || code.startsWith(SQLSTATE.connectionExceptionClass) || TRANSIENT_NODE_CODES.has(code);
};

/** Maps a driver error to a typed error; typed errors pass through unchanged. */
export const toProvisioningError = (e: unknown, context: string): ProvisioningError => {
  if (e instanceof ProvisioningError) return e;
  const code = sqlstateOf(e);
  const message = `${context}: ${(e as Error | undefined)?.message ?? String(e)}${code ? ` (SQLSTATE ${code})` : ''}`;
  const details = code ? { sqlstate: code } : undefined;
  if (isTransientPgError(e)) return new ProvisioningError('TransientDatabaseError', message, { details, cause: e });
  if (code === SQLSTATE.insufficientPrivilege || code?.startsWith(SQLSTATE.invalidAuthorizationClass))
    return new ProvisioningError('AdminLacksPrivilege', message, { details, cause: e });
  if (code === SQLSTATE.invalidCatalogName) return new ProvisioningError('UnknownDatabase', message, { details, cause: e });
  return new ProvisioningError('DatabaseError', message, { details, cause: e });
};
