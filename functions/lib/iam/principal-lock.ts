import { UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { isAwsError, mapAwsError } from '../core/aws-errors';
import { ProvisioningError } from '../core/errors';

/**
 * A lease per IAM principal in a DynamoDB table, held while this project rewrites that
 * principal's grant policies. IAM has no conditional write, so without it two concurrent
 * read-modify-write cycles on one policy would lose an update.
 *
 * The item also records, per policy, the version this project last made default (a fencing
 * token): IAM reads are eventually consistent, and the next holder must not build on a read
 * that does not yet show the previous holder's write.
 */
export interface LockDeps {
  ddb: DynamoDBClient;
  table: string;
  /** Longer than the function's timeout, so a lease outlives any holder that is still running. */
  leaseMs?: number;
  now?: () => number;
  /**
   * How long a step waits in place for a lock another step holds before it gives up with GrantLockBusy (the state
   * machine's Retry then runs it again). A holder needs a few IAM round trips, so grants of one principal (a shared
   * permission-set role: everyone's) queue here instead of costing a retry, a state transition and a requeue each.
   */
  waitMs?: number;
}

export const DEFAULT_LOCK_WAIT_MS = 5_000;

/**
 * Policy ARN -> the default version id we last wrote, null when we deleted the policy, or
 * DELETION_STARTED while a deletion (detach, delete versions, delete) is under way: recorded before
 * the detach, so a holder stopped halfway (throttled, timed out) leaves the next holder a note to
 * finish it instead of a version token no read can match.
 */
export type ExpectedPolicies = Record<string, string | null>;

export const DELETION_STARTED = 'deletion-started';

export const DEFAULT_LEASE_MS = 120_000;

const toExpected = (attr: AttributeValue | undefined): ExpectedPolicies => {
  const out: ExpectedPolicies = {};
  for (const [arn, v] of Object.entries(attr?.M ?? {})) out[arn] = v.S ?? null;
  return out;
};

const fromExpected = (expected: ExpectedPolicies): AttributeValue => ({
  M: Object.fromEntries(Object.entries(expected).map(([arn, v]) => [arn, v === null ? { NULL: true } : { S: v }])),
});

/**
 * `principalId`, when the caller knows it: the tokens were written for one incarnation of the
 * principal; a role deleted and created again under the name has none of those policies attached
 * (IAM detaches them first), so its holder must not wait for them.
 */
export const acquirePrincipalLock = async (deps: LockDeps, principalArn: string, owner: string, principalId?: string): Promise<ExpectedPolicies> => {
  const now = (deps.now ?? Date.now)();
  try {
    const out = await deps.ddb.send(
      new UpdateItemCommand({
        TableName: deps.table,
        Key: { pk: { S: principalArn } },
        UpdateExpression: 'SET #owner = :owner, #lease = :lease',
        ConditionExpression: 'attribute_not_exists(#owner) OR #lease < :now OR #owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#lease': 'leaseUntil' },
        ExpressionAttributeValues: { ':owner': { S: owner }, ':lease': { N: String(now + (deps.leaseMs ?? DEFAULT_LEASE_MS)) }, ':now': { N: String(now) } },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const writtenFor = out.Attributes?.principalId?.S;
    return principalId !== undefined && writtenFor !== undefined && writtenFor !== principalId ? {} : toExpected(out.Attributes?.policies);
  } catch (e) {
    if (isAwsError(e, 'ConditionalCheckFailedException')) {
      throw new ProvisioningError('GrantLockBusy', `another request is changing the grants of ${principalArn}; retrying`);
    }
    return mapAwsError(e, `lock grants of ${principalArn}`);
  }
};

/** Releases the lease; with `expected`, records the policy versions just written. */
export const releasePrincipalLock = async (
  deps: LockDeps,
  principalArn: string,
  owner: string,
  expected?: ExpectedPolicies,
  principalId?: string,
): Promise<void> => {
  const withId = expected !== undefined && principalId !== undefined;
  try {
    await deps.ddb.send(
      new UpdateItemCommand({
        TableName: deps.table,
        Key: { pk: { S: principalArn } },
        UpdateExpression: expected
          ? `SET #policies = :policies${withId ? ', #principalId = :principalId' : ''} REMOVE #owner, #lease`
          : 'REMOVE #owner, #lease',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: {
          '#owner': 'owner',
          '#lease': 'leaseUntil',
          ...(expected ? { '#policies': 'policies' } : {}),
          ...(withId ? { '#principalId': 'principalId' } : {}),
        },
        ExpressionAttributeValues: {
          ':owner': { S: owner },
          ...(expected ? { ':policies': fromExpected(expected) } : {}),
          ...(withId ? { ':principalId': { S: principalId } } : {}),
        },
      }),
    );
  } catch (e) {
    if (isAwsError(e, 'ConditionalCheckFailedException')) {
      // Only possible if we outlived the lease; the next holder's fencing check catches any stale read.
      throw new ProvisioningError('GrantLockBusy', `lost the grant lock of ${principalArn} before releasing it`);
    }
    return mapAwsError(e, `unlock grants of ${principalArn}`);
  }
};

/** Records the tokens while still holding the lease: progress that must survive the holder stopping before its release. */
export const recordPolicies = async (deps: LockDeps, principalArn: string, owner: string, expected: ExpectedPolicies): Promise<void> => {
  try {
    await deps.ddb.send(
      new UpdateItemCommand({
        TableName: deps.table,
        Key: { pk: { S: principalArn } },
        UpdateExpression: 'SET #policies = :policies',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#policies': 'policies' },
        ExpressionAttributeValues: { ':owner': { S: owner }, ':policies': fromExpected(expected) },
      }),
    );
  } catch (e) {
    if (isAwsError(e, 'ConditionalCheckFailedException'))
      throw new ProvisioningError('GrantLockBusy', `lost the grant lock of ${principalArn} while changing its grants`);
    return mapAwsError(e, `record the grant policy versions of ${principalArn}`);
  }
};

/** acquirePrincipalLock, trying again with jittered backoff (25 ms doubling to 400 ms) for up to `waitMs`. */
const acquireWaiting = async (deps: LockDeps, principalArn: string, owner: string, principalId?: string): Promise<ExpectedPolicies> => {
  const until = Date.now() + (deps.waitMs ?? DEFAULT_LOCK_WAIT_MS);
  for (let delay = 25; ; delay = Math.min(400, delay * 2)) {
    try {
      return await acquirePrincipalLock(deps, principalArn, owner, principalId);
    } catch (e) {
      if (!(e instanceof ProvisioningError && e.code === 'GrantLockBusy') || Date.now() + delay > until) throw e;
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
    }
  }
};

export const withPrincipalLock = async <T>(
  deps: LockDeps,
  principalArn: string,
  owner: string,
  fn: (expected: ExpectedPolicies, record: (progress: ExpectedPolicies) => Promise<void>) => Promise<{ result: T; expected?: ExpectedPolicies }>,
  principalId?: string,
): Promise<T> => {
  const expected = await acquireWaiting(deps, principalArn, owner, principalId);
  let outcome: { result: T; expected?: ExpectedPolicies };
  try {
    outcome = await fn(expected, (progress) => recordPolicies(deps, principalArn, owner, progress));
  } catch (e) {
    await releasePrincipalLock(deps, principalArn, owner).catch(() => undefined);
    throw e;
  }
  await releasePrincipalLock(deps, principalArn, owner, outcome.expected, principalId);
  return outcome.result;
};
