import { type AttributeValue, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { awsErrorName, mapAwsError } from '../core/aws-errors';
import { conditionalUpdate } from '../core/conditional-update';
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
 *
 * An onboarding's grant waits in the IAM limiter's queue, possibly for minutes behind a burst. Meanwhile the
 * onboarding holds the lease with `phase: awaiting-grant`, and an offboarding of that user does not wait for it: it
 * takes the lease over (preempts) and records whom it preempted. The preempted onboarding's AllowConnect then
 * refuses to grant (LeasePreempted) and its compensation undoes what is left. Once AllowConnect has started granting
 * (`phase: granting`), the offboarding waits for that one IAM write as for any holder.
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
  /** Set when this offboarding took the lease from an onboarding that was waiting to grant. */
  preempted?: boolean;
}

/** Where an onboarding is: creating the user, granting IAM, or undoing itself (which may run after a preemption). */
export type OnboardingStage = 'create' | 'grant' | 'compensate';

const AWAITING_GRANT = 'awaiting-grant';

const NAMES: Record<string, string> = {
  '#owner': 'owner',
  '#since': 'ownedSince',
  '#waiting': 'offboardingWaiting',
  '#phase': 'phase',
  '#preempted': 'preemptedFrom',
};

/** An execution ARN of this project's state machines: partition, Region, account, machine, name. */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_.-]{1,80}$/;

export const leaseKeyOf = ({ resourceId, dbUser }: DbUserKey): string => `dbuser:${resourceId}:${dbUser}`;

export const dbUserLeaseDeps = (env: NodeJS.ProcessEnv = process.env): DbUserLeaseDeps => {
  const table = env.GRANT_LOCK_TABLE;
  if (!table) throw new ProvisioningError('ConfigurationError', 'GRANT_LOCK_TABLE is not set');
  return { ddb: dynamoClient(), table, sfn: sfnClient() };
};

const nameOf = (executionArn: string | undefined): string | undefined => executionArn?.slice(executionArn.lastIndexOf(':') + 1);

const preempted = (key: DbUserKey, by: string | undefined): ProvisioningError =>
  new ProvisioningError(
    'LeasePreempted',
    `an offboarding (${nameOf(by) ?? 'of this user'}) took database user "${key.dbUser}" over while this ` +
      `onboarding waited to grant: nothing is granted and the onboarding is undone`,
    {
      details: { dbUser: key.dbUser, ...(by ? { offboarding: by } : {}) },
    },
  );

const busy = (key: DbUserKey, holder: string): ProvisioningError =>
  new ProvisioningError('DbUserBusy', `another request (${nameOf(holder)}) is changing database user "${key.dbUser}"; waiting for it to finish`, {
    details: { dbUser: key.dbUser, holder },
  });

/** Applies `update` if `condition` holds: the item as it was, or, when the condition failed, `{failed}` with the item as it is. */
const conditional = (deps: DbUserLeaseDeps, key: DbUserKey, update: string, condition: string, values: Record<string, AttributeValue>) =>
  conditionalUpdate(deps.ddb, deps.table, leaseKeyOf(key), { update, condition, names: NAMES, values }, `lease database user "${key.dbUser}"`);

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
export const acquireDbUserLease = async (
  deps: DbUserLeaseDeps,
  key: DbUserKey,
  execution: string,
  kind: LeaseKind = 'offboarding',
  stage: OnboardingStage = 'create',
): Promise<LeaseNote> => {
  if (!EXECUTION_ARN.test(execution))
    throw new ProvisioningError('ValidationError', `execution: "${execution}" is not a Step Functions execution ARN`, { details: { field: 'execution' } });
  const me: Record<string, AttributeValue> = { ':owner': { S: execution }, ':now': { N: String((deps.now ?? Date.now)()) } };
  if (kind === 'onboarding' && stage === 'grant') {
    // Only the holder that created the user grants, and once it starts no offboarding preempts it.
    const granting = await conditional(deps, key, 'SET #phase = :granting', '#owner = :owner', { ':owner': { S: execution }, ':granting': { S: 'granting' } });
    if (!granting.failed) return {};
    // The lease is taken from its creator only by an offboarding (preemption): whatever happened since, never grant.
    throw preempted(key, granting.item?.owner?.S ?? granting.item?.lastOwner?.S);
  }
  // Every take says what the holder does now: only `awaiting-grant` (set after CreateDbUser) may be taken over.
  const take = kind === 'offboarding' ? 'SET #owner = :owner, #since = :now REMOVE #waiting, #phase' : 'SET #owner = :owner, #since = :now, #phase = :phase';
  if (kind === 'onboarding') Object.assign(me, { ':phase': { S: stage === 'compensate' ? 'compensating' : 'creating' } });
  const unmarked = kind === 'offboarding' ? '' : ' AND attribute_not_exists(#waiting)';
  const free = await conditional(deps, key, take, `(attribute_not_exists(#owner)${unmarked}) OR #owner = :owner`, me);
  if (!free.failed) {
    // A preempted onboarding never takes the user again (a late copy of its CreateDbUser), except to undo itself.
    if (kind === 'onboarding' && stage !== 'compensate' && free.item?.preemptedFrom?.S === execution) {
      await releaseDbUserLease(deps, key, execution);
      throw preempted(key, free.item?.lastOwner?.S);
    }
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
  if (kind === 'onboarding' && stage !== 'compensate' && free.item?.preemptedFrom?.S === execution) throw preempted(key, holder);
  if (await isRunning(deps.sfn, holder)) {
    if (kind === 'offboarding' && free.item?.phase?.S === AWAITING_GRANT) {
      // The holder created the user and waits for IAM: taking access away does not wait behind that queue.
      const taken = await conditional(
        deps,
        key,
        'SET #owner = :owner, #since = :now, #preempted = :holder REMOVE #phase, #waiting',
        '#owner = :holder AND #phase = :awaiting',
        {
          ...me,
          ':holder': { S: holder },
          ':awaiting': { S: AWAITING_GRANT },
        },
      );
      if (!taken.failed) {
        logger.warn('offboarding took the database user over from an onboarding waiting to grant', { dbUser: key.dbUser, holder });
        return { after: nameOf(holder), preempted: true };
      }
    }
    if (kind === 'offboarding' && waiting === undefined)
      await conditional(deps, key, 'SET #waiting = :owner', 'attribute_not_exists(#waiting)', { ':owner': { S: execution } });
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
        UpdateExpression: 'SET #last = :owner REMOVE #owner, #since, #phase',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#since': 'ownedSince', '#last': 'lastOwner', '#phase': 'phase' },
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
  stage: OnboardingStage = 'create',
): Promise<T & { lease: LeaseNote }> => {
  const lease = await acquireDbUserLease(deps, key, execution, kind, stage);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    // A grant that failed goes back round the state's Retry and the IAM queue: an offboarding may take over meanwhile.
    if (kind === 'onboarding' && stage === 'grant')
      await conditional(deps, key, 'SET #phase = :awaiting', '#owner = :owner AND #phase = :granting', {
        ':owner': { S: execution },
        ':awaiting': { S: AWAITING_GRANT },
        ':granting': { S: 'granting' },
      }).catch(() => undefined);
    throw e;
  }
  if (release) await releaseDbUserLease(deps, key, execution);
  // The user exists; the grant waits in the IAM limiter's queue: an offboarding may take over until it starts.
  else if (kind === 'onboarding' && stage === 'create')
    await conditional(deps, key, 'SET #phase = :awaiting', '#owner = :owner', { ':owner': { S: execution }, ':awaiting': { S: AWAITING_GRANT } });
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
  stage: OnboardingStage = 'create',
): Promise<T & { lease: LeaseNote | { serialised: false } }> => {
  if (state.execution === undefined) return { ...(await fn()), lease: { serialised: false } };
  return withDbUserLease(deps(), { resourceId: state.db.resourceId, dbUser: state.request.dbUser }, state.execution, kind, release, fn, stage);
};
