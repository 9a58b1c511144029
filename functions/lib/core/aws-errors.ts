import { ProvisioningError } from './errors';

/** SDK error names that mean "slow down or try again", across RDS, IAM, STS, DynamoDB and SFN. */
const TRANSIENT_AWS_ERRORS = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestThrottledException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ServiceFailure',
  'InternalFailure',
  'InternalError',
  'ConcurrentModification',
  'ConcurrentModificationException',
  'TimeoutError',
  'ECONNRESET',
  'ETIMEDOUT',
]);

export interface AwsErrorLike {
  name?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export const awsErrorName = (e: unknown): string => (e as AwsErrorLike | undefined)?.name ?? 'UnknownError';

/** Whether `e` is the AWS error of one of these names (the SDK's exception classes carry their name). */
export const isAwsError = (e: unknown, ...names: string[]): boolean => names.includes(awsErrorName(e));

export const isTransientAwsError = (e: unknown): boolean => {
  const err = e as AwsErrorLike | undefined;
  if (!err || typeof err !== 'object') return false;
  if (err.name && TRANSIENT_AWS_ERRORS.has(err.name)) return true;
  if (err.$retryable) return true;
  const status = err.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
};

/**
 * Maps an AWS SDK error to a typed error: throttling and 5xx become TransientAwsError (the
 * state machine retries them); names in `known` map to the given code; anything else is
 * rethrown unchanged, so an unexpected failure keeps its own name in the execution history.
 */
export const mapAwsError = (e: unknown, context: string, known: Record<string, ProvisioningError['code']> = {}): never => {
  if (e instanceof ProvisioningError) throw e;
  const name = awsErrorName(e);
  const message = (e as AwsErrorLike | undefined)?.message ?? String(e);
  if (Object.hasOwn(known, name)) throw new ProvisioningError(known[name], `${context}: ${name}: ${message}`, { cause: e });
  if (isTransientAwsError(e)) throw new ProvisioningError('TransientAwsError', `${context}: ${name}: ${message}`, { cause: e });
  throw e;
};
