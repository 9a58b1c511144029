/**
 * Typed errors. The `name` of each error is its stable code: Lambda reports it as the
 * error type, and the state machines' Retry/Catch match on it. Names are set explicitly
 * (not taken from the class) so minification can never change them.
 */
export type ErrorCode =
  | 'ValidationError'
  | 'UnknownTarget'
  | 'RoleNotAllowed'
  | 'DatabaseNotAllowed'
  | 'ProtectedRole'
  | 'UnmanagedRoleConflict'
  | 'UnknownDatabase'
  | 'UnknownGroupRole'
  | 'AdminLacksPrivilege'
  | 'TargetNotFound'
  | 'TargetNotSupported'
  | 'TargetBusy'
  | 'TargetUnavailable'
  | 'IamAuthEnableTimeout'
  | 'IamAuthDisabled'
  | 'PrincipalNotFound'
  | 'PrincipalRecreated'
  | 'ForeignPolicyConflict'
  | 'GrantLimitReached'
  /** The scheduled repair looked again under the principal's lock and the drift it was to remove is gone. */
  | 'DriftChanged'
  | 'GrantLockBusy'
  | 'DbUserBusy'
  | 'IamNotYetConsistent'
  | 'TransientDatabaseError'
  | 'TransientAwsError'
  | 'DatabaseError'
  | 'ConfigurationError'
  | 'NotAuthorized'
  | 'RequestNotFound'
  | 'RequestConflict'
  | 'RequestRunning'
  | 'NothingToRetry'
  | 'RetryLimitReached'
  | 'RouteNotFound'
  | 'IdentityProviderUnavailable'
  | 'ReassignmentRefused';

/** Error codes the state machines retry with backoff: the condition is expected to pass. */
export const RETRYABLE_CODES: readonly ErrorCode[] = [
  'TargetBusy',
  'GrantLockBusy',
  'DbUserBusy',
  'IamNotYetConsistent',
  'TransientDatabaseError',
  'TransientAwsError',
];

const HTTP_STATUS: Record<ErrorCode, number> = {
  ValidationError: 400,
  UnknownTarget: 404,
  RoleNotAllowed: 403,
  DatabaseNotAllowed: 403,
  ProtectedRole: 403,
  UnmanagedRoleConflict: 409,
  UnknownDatabase: 400,
  UnknownGroupRole: 400,
  AdminLacksPrivilege: 500,
  TargetNotFound: 404,
  TargetNotSupported: 400,
  TargetBusy: 503,
  TargetUnavailable: 409,
  IamAuthEnableTimeout: 504,
  IamAuthDisabled: 409,
  PrincipalNotFound: 404,
  PrincipalRecreated: 409,
  ForeignPolicyConflict: 409,
  GrantLimitReached: 409,
  DriftChanged: 409,
  GrantLockBusy: 503,
  DbUserBusy: 503,
  IamNotYetConsistent: 503,
  TransientDatabaseError: 503,
  TransientAwsError: 503,
  DatabaseError: 500,
  ConfigurationError: 500,
  NotAuthorized: 403,
  RequestNotFound: 404,
  RequestConflict: 409,
  RequestRunning: 409,
  NothingToRetry: 409,
  RetryLimitReached: 409,
  RouteNotFound: 404,
  IdentityProviderUnavailable: 503,
  ReassignmentRefused: 409,
};

/** Every error code (docs/runbook.md has an entry for each: test/runbook.test.ts). */
export const ERROR_CODES = Object.keys(HTTP_STATUS) as ErrorCode[];

/** The HTTP status the API answers with for a code. */
export const httpStatusOf = (code: ErrorCode): number => HTTP_STATUS[code];

/** Whether a string (an error name that crossed a Lambda boundary, say) is one of our codes. */
export const isErrorCode = (name: unknown): name is ErrorCode => typeof name === 'string' && Object.hasOwn(HTTP_STATUS, name);

export class ProvisioningError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.details = options?.details;
  }

  get retryable(): boolean {
    return RETRYABLE_CODES.includes(this.code);
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toJSON(): { error: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { error: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export const isProvisioningError = (e: unknown, code?: ErrorCode): e is ProvisioningError =>
  e instanceof ProvisioningError && (code === undefined || e.code === code);

/** Shorthand for the most common error: a field of the request is wrong. */
export const invalid = (field: string, reason: string): ProvisioningError =>
  new ProvisioningError('ValidationError', `${field}: ${reason}`, { details: { field, reason } });

/**
 * A configuration that cannot be used (code ConfigurationError): where it came from (a file, or TARGETS_CONFIG),
 * what it is, and every problem found, one per line as `PATH: what is wrong, what is allowed`, so that one run
 * shows all of them.
 */
export class ConfigurationError extends ProvisioningError {
  readonly source: string | undefined;
  readonly problems: readonly string[];

  constructor(source: string | undefined, headline: string, problems: readonly string[]) {
    super('ConfigurationError', `${source ? `${source}: ` : ''}${headline}${problems.length ? `:\n  - ${problems.join('\n  - ')}` : ''}`);
    this.source = source;
    this.problems = problems;
  }
}
