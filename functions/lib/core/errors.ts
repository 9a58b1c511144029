/**
 * Typed errors. The `name` of each error is its stable code: Lambda reports it as the
 * error type, and the state machines' Retry/Catch match on it. Names are set explicitly
 * (not taken from the class) so minification can never change them.
 */
/**
 * Every error code, once: the HTTP status the API answers with, whether the state machines retry it (the condition is
 * expected to pass: test/unit/core/error-table.test.ts holds every Retry of statemachines/*.asl.json to this column), and what
 * it means (docs/runbook.md says the same and what to do: test/integration/runbook.test.ts compares them).
 */
const ERRORS = {
  ValidationError: { status: 400, retried: false, means: 'A field of the request (or an event) is wrong; the message names it and what is allowed.' },
  UnknownTarget: { status: 404, retried: false, means: 'The request names a target that is not in the targets file.' },
  RoleNotAllowed: { status: 403, retried: false, means: "A requested database role is not on the target's `allowedDbRoles`." },
  DatabaseNotAllowed: { status: 403, retried: false, means: "A requested database is not on the target's `allowedDatabases`." },
  ProtectedRole: {
    status: 403,
    retried: false,
    means: 'The database user is one this project never manages (the admin, `rds_*`, `pg_*`, a superuser, a configured protected role).',
  },
  UnmanagedRoleConflict: {
    status: 409,
    retried: false,
    means: 'A role of that name exists but was not created by this project (not a member of the marker role).',
  },
  UnknownDatabase: {
    status: 400,
    retried: false,
    means:
      'A requested database does not exist on the server (or does not allow connections). Refused when the ' +
      'request (or its retry) is sent, nothing started; a run fails with it only if the target could not ' +
      'be read then or the database was dropped meanwhile.',
  },
  UnknownGroupRole: { status: 400, retried: false, means: 'An allowed group role does not exist on the server.' },
  AdminLacksPrivilege: {
    status: 500,
    retried: false,
    means: 'The admin user cannot do what the step needs (e.g. end sessions, grant a role); the message has the exact `GRANT`.',
  },
  TargetNotFound: { status: 404, retried: false, means: 'The configured RDS instance or cluster does not exist in its region.' },
  TargetNotSupported: {
    status: 400,
    retried: false,
    means: 'The target is not RDS or Aurora PostgreSQL (no `rds_iam` role), or its engine cannot use IAM authentication.',
  },
  TargetBusy: { status: 503, retried: true, backoff: 'transient', means: 'The instance or cluster is modifying, rebooting or has no endpoint yet.' },
  TargetUnavailable: { status: 409, retried: false, means: 'The instance or cluster is stopped, failed or in another state where users cannot be managed.' },
  IamAuthEnableTimeout: { status: 504, retried: false, means: 'IAM authentication was turned on but the instance did not report it within the wait.' },
  IamAuthDisabled: { status: 409, retried: false, means: 'IAM authentication is off and the target says `iamAuth.enable: never`.' },
  PrincipalNotFound: { status: 404, retried: false, means: 'The IAM role or user to grant does not exist.' },
  PrincipalRecreated: {
    status: 409,
    retried: false,
    means: 'The principal was deleted and created again since the request was validated (its unique id changed).',
  },
  ForeignPolicyConflict: {
    status: 409,
    retried: false,
    means: "An IAM policy with the grant policy's name exists but is not provably this project's (path or tag differ).",
  },
  GrantLimitReached: {
    status: 409,
    retried: false,
    means: "The principal holds the configured maximum of grants, or IAM's attached-policies quota is reached.",
  },
  /** The scheduled repair looked again under the principal's lock and the drift it was to remove is gone. */
  DriftChanged: {
    status: 409,
    retried: false,
    means: "The scheduled repair looked again under the principal's lock and the drift is gone (the user exists again).",
  },
  GrantLockBusy: { status: 503, retried: true, backoff: 'lock', means: "Another run is changing the same principal's grant policies." },
  DbUserBusy: {
    status: 503,
    retried: true,
    backoff: 'lease',
    means: "Another run holds the database user's lease (an onboarding and an offboarding of one user are serialised).",
  },
  ReconcileRunning: {
    status: 503,
    retried: false,
    means: 'An Identity Store notification came just as the reconcile it was deferred to ended; Lambda retries the event (1 and 3 minutes later).',
  },
  LeasePreempted: {
    status: 409,
    retried: false,
    means: 'An offboarding of the database user took it over while this onboarding waited to grant: nothing was granted, the onboarding was undone.',
  },
  IamNotYetConsistent: { status: 503, retried: true, backoff: 'lock', means: 'IAM does not show the last change yet (eventual consistency).' },
  TransientDatabaseError: {
    status: 503,
    retried: true,
    backoff: 'transient',
    means: 'A connection was lost, a lock timed out, the server restarted, or sessions are still closing.',
  },
  TransientAwsError: { status: 503, retried: true, backoff: 'transient', means: 'An AWS API throttled or failed transiently.' },
  DatabaseError: { status: 500, retried: false, means: 'PostgreSQL refused a statement for a reason that is not transient (its SQLSTATE is in the message).' },
  ConfigurationError: {
    status: 500,
    retried: false,
    means: 'The deployment is misconfigured: a bad targets file, a missing successor role, an admin secret of the wrong shape.',
  },
  NotAuthorized: {
    status: 403,
    retried: false,
    means:
      'The caller may not ask for this, or the database user belongs to another principal or person; ' +
      '`details.reason: "caller is not a session"`: the caller ARN is a role (or group, policy) ARN, ' +
      'which never signs a request.',
  },
  RequestNotFound: { status: 404, retried: false, means: 'No request with that id (or the execution is unknown).' },
  RequestConflict: {
    status: 409,
    retried: false,
    means:
      'The request id is taken by a different request, or a retry names the wrong attempt, ' +
      "or the retry's attempt name is still held by an earlier run of a reused request id.",
  },
  RequestRunning: { status: 409, retried: false, means: 'The request is still running; only an ended failure can be retried.' },
  NothingToRetry: { status: 409, retried: false, means: 'The request succeeded; there is nothing to retry.' },
  RetryLimitReached: { status: 409, retried: false, means: 'The request has run the maximum number of attempts.' },
  SelfApproval: {
    status: 403,
    retried: false,
    means: 'The caller sent the access request or is its subject (the same IAM role or user): it can never approve it.',
  },
  ApprovalExpired: {
    status: 409,
    retried: false,
    means: "The access request's approval deadline (approvalExpiresAt) has passed: it can no longer be approved, denied or cancelled; nothing was changed.",
  },
  PlanChanged: {
    status: 409,
    retried: false,
    means: "The planHash sent with the approval is not the request's: the approver saw another plan than the one that would be granted.",
  },
  AlreadyVoted: { status: 409, retried: false, means: 'The caller (its IAM role or user) has already approved or denied this access request.' },
  RequestStateConflict: {
    status: 409,
    retried: false,
    means: 'The access request is not in a state that allows this (already decided, cancelled, started or ended); the message says its state.',
  },
  AccessRequestBusy: {
    status: 503,
    retried: false,
    means: 'Other decisions on the same access request kept winning its conditional write; nothing of this call was written.',
  },
  RouteNotFound: { status: 404, retried: false, means: 'The API has no route with that method and path.' },
  IdentityProviderUnavailable: {
    status: 503,
    retried: false,
    means: 'The identity provider (Identity Store, Okta) could not be read, or answered something unsafe to follow.',
  },
  ReassignmentRefused: {
    status: 409,
    retried: false,
    means: "The leaver owns objects that cannot be handed to the successor safely (e.g. in another role's schema).",
  },
} as const satisfies Record<string, { status: number; retried: boolean; backoff?: Backoff; means: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * How long the state machines wait for each kind of passing condition: another run's lease on the database user (a
 * step of minutes), a principal's grant lock or IAM's consistency (seconds), or a transient fault of the step's own
 * work, whose wait each function sets (config/functions.ts `retry`: enabling IAM authentication takes minutes, a
 * describe seconds). statemachines/*.asl.json write every Retry out (they are deployed and run as they are);
 * test/unit/core/error-table.test.ts derives each Task's from this and the codes its function can raise.
 */
export type Backoff = 'lease' | 'lock' | 'transient';
export const BACKOFF = {
  lease: { IntervalSeconds: 2, MaxAttempts: 40, BackoffRate: 1.5, MaxDelaySeconds: 30 },
  lock: { IntervalSeconds: 1, MaxAttempts: 25, BackoffRate: 2, MaxDelaySeconds: 20 },
  transient: { BackoffRate: 2 },
} as const;

/** The backoff a retried code waits with. */
export const backoffOf = (code: ErrorCode): Backoff | undefined => {
  const e = ERRORS[code];
  return 'backoff' in e ? e.backoff : undefined;
};

/** Error codes the state machines retry with backoff: the condition is expected to pass. */
export const RETRYABLE_CODES: readonly ErrorCode[] = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => ERRORS[c].retried);

/** What a code means, in one sentence (the runbook's "what it means"). */
export const meaningOf = (code: ErrorCode): string => ERRORS[code].means;

/** Every error code (docs/runbook.md has an entry for each: test/integration/runbook.test.ts). */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The HTTP status the API answers with for a code. */
export const httpStatusOf = (code: ErrorCode): number => ERRORS[code].status;

/** Whether a string (an error name that crossed a Lambda boundary, say) is one of our codes. */
export const isErrorCode = (name: unknown): name is ErrorCode => typeof name === 'string' && Object.hasOwn(ERRORS, name);

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
    return ERRORS[this.code].retried;
  }

  get httpStatus(): number {
    return ERRORS[this.code].status;
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
