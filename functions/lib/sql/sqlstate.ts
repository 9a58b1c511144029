import { ProvisioningError } from '../errors';

/**
 * PostgreSQL errors are classified by SQLSTATE, never by message text: servers run in
 * other locales (lc_messages), and messages change between versions.
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  'XX000', // internal_error: "tuple concurrently updated" on concurrent catalog updates (GRANT)
  '42710', // duplicate_object: a concurrent request created the same role first; the retry sees it
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '53300', // too_many_connections
  '57P01', // admin_shutdown (failover, reboot)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
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
  return TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_NODE_CODES.has(code);
};

/** Maps a driver error to a typed error; typed errors pass through unchanged. */
export const toProvisioningError = (e: unknown, context: string): ProvisioningError => {
  if (e instanceof ProvisioningError) return e;
  const code = sqlstateOf(e);
  const message = `${context}: ${(e as Error | undefined)?.message ?? String(e)}${code ? ` (SQLSTATE ${code})` : ''}`;
  const details = code ? { sqlstate: code } : undefined;
  if (isTransientPgError(e)) return new ProvisioningError('TransientDatabaseError', message, { details, cause: e });
  if (code === '42501' || code?.startsWith('28')) return new ProvisioningError('AdminLacksPrivilege', message, { details, cause: e });
  if (code === '3D000') return new ProvisioningError('UnknownDatabase', message, { details, cause: e });
  return new ProvisioningError('DatabaseError', message, { details, cause: e });
};
