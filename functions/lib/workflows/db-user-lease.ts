import { type AttributeValue, ConditionalCheckFailedException, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { awsErrorName, mapAwsError } from '../core/aws-errors';
import { dynamoClient, sfnClient } from '../core/clients';
import { ProvisioningError } from '../core/errors';
import { logger } from '../core/logger';

/**
 * A lease per database user (target resource id + name), held by one execution from its first change
 * to that user until its last: onboarding from CreateDbUser to AllowConnect (or CompensateDbUser),
 * offboarding from DeactivateDbUser to RetireDbUser. So an onboarding and an offboarding of one user
 * never interleave (an onboarding cannot turn LOGIN back on or add the grant between the offboarding's
 * steps); whatever the timing, one runs after the other and the end state is the later one's.
 *
 * The holder is the execution itself (`$$.Execution.Id`, its ARN). Every step re-takes the lease
 * (re-entrant), so a step acts only while its execution holds it. A holder that ended without
 * releasing (failed, timed out, aborted: no step runs then) is taken over as soon as Step Functions
 * says it is no longer RUNNING; there is no time-based expiry, so a slow holder is never overtaken.
 * Stored in the principal lock table under its own key prefix.
 */
export interface DbUserLeaseDeps {
  ddb: DynamoDBClient;
  table: string;
  sfn: SFNClient;
  now?: () => number;
}

export interface DbUserKey {
  resourceId: string;
  dbUser: string;
}

/** What a step says about the lease in its output: which execution changed the user before this one. */
export interface LeaseNote {
  /** The execution that last held the lease (released it, or ended while holding it). */
  after?: string;
  /** Set when that execution had ended without releasing it (failed, timed out, aborted). */
  tookOver?: boolean;
}

/** An execution ARN of this project's state machines: partition, Region, account, machine, name. */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_.-]{1,80}$/;

export const leaseKeyOf = ({ resourceId, dbUser }: DbUserKey): string => `dbuser:${resourceId}:${dbUser}`;

export const dbUserLeaseDeps = (env: NodeJS.ProcessEnv = process.env): DbUserLeaseDeps => {
  const table = env.GRANT_LOCK_TABLE;
  if (!table) throw new ProvisioningError('ConfigurationError', 'GRANT_LOCK_TABLE is not set');
  return { ddb: dynamoClient(), table, sfn: sfnClient() };
};

const nameOf = (executionArn: string | undefined): string | undefined => executionArn?.slice(executionArn.lastIndexOf(':') + 1);

const busy = (key: DbUserKey, holder: string): ProvisioningError =>
  new ProvisioningError('DbUserBusy', `another request (${nameOf(holder)}) is changing database user "${key.dbUser}"; waiting for it to finish`, {
    details: { dbUser: key.dbUser, holder },
  });

/** Applies `update` if `condition` holds: the item as it was, or, when the condition failed, `{failed}` with the item as it is. */
const conditional = async (deps: DbUserLeaseDeps, key: DbUserKey, update: string, condition: string, values: Record<string, AttributeValue>) => {
  try {
    const out = await deps.ddb.send(
      new UpdateItemCommand({
        TableName: deps.table,
        Key: { pk: { S: leaseKeyOf(key) } },
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#owner': 'owner', '#since': 'ownedSince', '#waiting': 'offboardingWaiting' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { failed: false as const, item: out.Attributes };
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || awsErrorName(e) === 'ConditionalCheckFailedException') {
      return { failed: true as const, item: (e as ConditionalCheckFailedException).Item };
    }
    return mapAwsError(e, `lease database user "${key.dbUser}"`);
  }
};

const isRunning = async (sfn: SFNClient, executionArn: string): Promise<boolean> => {
  try {
    return (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status === 'RUNNING';
  } catch (e) {
    // A holder Step Functions does not know (deleted with its state machine, or forged) holds nothing.
    if (awsErrorName(e) === 'ExecutionDoesNotExist') return false;
    return mapAwsError(e, `ask whether ${executionArn} still runs`);
  }
};

/** Which workflow asks: an offboarding goes before any onboarding that has not started changing the user yet. */
export type LeaseKind = 'onboarding' | 'offboarding';

/**
 * Takes (or confirms) the lease for `execution`. Throws DbUserBusy, which the state machines retry,
 * while another execution that is still running holds it.
 *
 * Offboardings have priority: a waiting offboarding marks the item, and no onboarding takes a free
 * lease while the mark names a running execution. Without it, a stream of onboardings (a leaver who
 * can still call the API for itself) could keep an offboarding waiting for ever.
 */
export const acquireDbUserLease = async (deps: DbUserLeaseDeps, key: DbUserKey, execution: string, kind: LeaseKind = 'offboarding'): Promise<LeaseNote> => {
  if (!EXECUTION_ARN.test(execution)) throw new ProvisioningError('ValidationError', `execution: "${execution}" is not a Step Functions execution ARN`, { details: { field: 'execution' } });
  const me = { ':owner': { S: execution }, ':now': { N: String((deps.now ?? Date.now)()) } };
  const take = kind === 'offboarding' ? 'SET #owner = :owner, #since = :now REMOVE #waiting' : 'SET #owner = :owner, #since = :now';
  const unmarked = kind === 'offboarding' ? '' : ' AND attribute_not_exists(#waiting)';
  const free = await conditional(deps, key, take, `(attribute_not_exists(#owner)${unmarked}) OR #owner = :owner`, me);
  if (!free.failed) {
    if (free.item?.owner?.S === execution) return {};
    const last = free.item?.lastOwner?.S;
    return last ? { after: nameOf(last) } : {};
  }
  const holder = free.item?.owner?.S;
  const waiting = free.item?.offboardingWaiting?.S;
  if (holder === undefined) {
    // Free, but an offboarding waits for it: let it go first unless it has ended.
    if (waiting === undefined) throw busy(key, 'a request that just finished');
    if (await isRunning(deps.sfn, waiting)) throw busy(key, waiting);
    await conditional(deps, key, 'REMOVE #waiting', '#waiting = :waiting', { ':waiting': { S: waiting } });
    throw busy(key, waiting);
  }
  if (await isRunning(deps.sfn, holder)) {
    if (kind === 'offboarding' && waiting === undefined) await conditional(deps, key, 'SET #waiting = :owner', 'attribute_not_exists(#waiting)', { ':owner': { S: execution } });
    throw busy(key, holder);
  }
  const taken = await conditional(deps, key, take, `#owner = :holder${unmarked}`, { ...me, ':holder': { S: holder } });
  if (taken.failed) throw busy(key, taken.item?.owner?.S ?? taken.item?.offboardingWaiting?.S ?? holder);
  logger.warn('took over the lease of a database user from an execution that ended holding it', { dbUser: key.dbUser, holder });
  return { after: nameOf(holder), tookOver: true };
};

/** Lets the next execution in; a lease this execution no longer holds is left alone. */
export const releaseDbUserLease = async (deps: DbUserLeaseDeps, key: DbUserKey, execution: string): Promise<void> => {
  try {
    await deps.ddb.send(
      new UpdateItemCommand({
        TableName: deps.table,
        Key: { pk: { S: leaseKeyOf(key) } },
        UpdateExpression: 'SET #last = :owner REMOVE #owner, #since',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#since': 'ownedSince', '#last': 'lastOwner' },
        ExpressionAttributeValues: { ':owner': { S: execution } },
      }),
    );
  } catch (e) {
    if (awsErrorName(e) === 'ConditionalCheckFailedException') return;
    mapAwsError(e, `release the lease of database user "${key.dbUser}"`);
  }
};

/**
 * Runs `fn` holding the lease; releases it afterwards when `release` (the execution's last step for
 * this user). On failure the lease stays: the execution's compensation, or the next execution once
 * this one has ended, takes it.
 */
export const withDbUserLease = async <T extends object>(
  deps: DbUserLeaseDeps,
  key: DbUserKey,
  execution: string,
  kind: LeaseKind,
  release: boolean,
  fn: () => Promise<T>,
): Promise<T & { lease: LeaseNote }> => {
  const lease = await acquireDbUserLease(deps, key, execution, kind);
  const result = await fn();
  if (release) await releaseDbUserLease(deps, key, execution);
  return { ...result, lease };
};

/**
 * A step's work under the lease of its database user. A run whose definition predates leases
 * (no `execution` in its input) runs as before, and says so.
 */
export const withStepLease = async <T extends object>(
  state: { execution?: string; db: { resourceId: string }; request: { dbUser: string } },
  kind: LeaseKind,
  release: boolean,
  fn: () => Promise<T>,
  deps: () => DbUserLeaseDeps = dbUserLeaseDeps,
): Promise<T & { lease: LeaseNote | { serialised: false } }> => {
  if (state.execution === undefined) return { ...(await fn()), lease: { serialised: false } };
  return withDbUserLease(deps(), { resourceId: state.db.resourceId, dbUser: state.request.dbUser }, state.execution, kind, release, fn);
};
