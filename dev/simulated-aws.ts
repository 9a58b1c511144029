/**
 * A SIMULATION of the AWS control plane this project calls (IAM, RDS, DynamoDB, Secrets
 * Manager), kept in memory, for tests, the benchmark and local mode. It plugs in at the SDK
 * boundary with aws-sdk-client-mock, so the real handlers and SDK commands run unchanged.
 * Deployed code never imports anything under dev/. One file per service under dev/sim/, each saying what
 * it models and what not; this file puts them together.
 *
 * It models the behaviour the workflows depend on: IAM's five-version and size limits, the
 * attached-policy quota, URL-encoded policy documents and NoSuchEntity, unique ids (RoleId /
 * UserId / PolicyId, new for every creation), policy tags set at creation or by TagPolicy (returned by GetPolicy and
 * ListPolicyTags, never by ListPolicies); RDS's asynchronous
 * IAM-auth modification; DynamoDB conditional updates for the expressions the principal lock
 * and the database-user lease use. Every call yields to the event loop first, so concurrent callers interleave as
 * they would against the real services.
 *
 * IAM faults, each OFF unless `iam.configure({...})` sets it (sandbox option `iam`, local mode's LOCAL_* variables):
 * - throttle: one token bucket for the account's mutating calls (CreatePolicy, CreatePolicyVersion, DeletePolicy,
 *   DeletePolicyVersion, Attach/Detach Role/User Policy); a call without a token fails, unchanged, with `Throttling`
 *   (HTTP 400, the generic IAMServiceException the SDK raises); readThrottle: the same for Get* and List*.
 * - consistencyLagMs: after every change (API call or test helper) the whole state is snapshotted; a read is served
 *   from the newest snapshot at least `lag` ms old (fixed, or drawn per read from {min, max}, so reads may go back
 *   in time); writes always act on the true state. `settle()` makes everything visible at once. A principal that
 *   local mode auto-creates exists in every snapshot. Stats: `laggedReads`.
 * - pageSize: every List* answer (ListPolicies, ListPolicyVersions, ListAttached{Role,User}Policies,
 *   ListEntitiesForPolicy, ListPolicyTags) holds at most that many items, with IsTruncated and an opaque Marker;
 *   MaxItems is honoured; a Marker not handed out is InvalidInput.
 * - concurrentModificationRate: that share of mutating calls fails, unchanged, with ConcurrentModificationException
 *   (HTTP 409), drawn from a PRNG seeded by `seed` (same seed, same faults).
 * - faults.next(command, error, {times, afterEffect}): the next call(s) of one command fail once, before acting or,
 *   with afterEffect, after acting (a lost reply). `iamFaults` builds the service's errors.
 *
 * NOT modelled: the SDK's own retries (aws-sdk-client-mock replaces `send`, so only the state machines retry);
 * per-API or per-principal rate limits (one bucket for all writes); eventual consistency of RDS, DynamoDB (strongly
 * consistent here, as the lock's conditional writes are), Secrets Manager; throttling or faults of any service but
 * IAM; lag that differs per entity or per region; IAM's quotas beyond versions, size and attachments; paging of
 * RDS describes (one target per call).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { SimulatedLockTable } from './sim/dynamodb';
import { SimulatedIam } from './sim/iam';
import { SimulatedRds } from './sim/rds';
import { SimulatedS3 } from './sim/s3';
import { SimulatedSecrets } from './sim/secrets';

export { SimulatedLockTable } from './sim/dynamodb';
export { iamFaults, type IamSimulationOptions, type IamSimulationStats, SimulatedIam } from './sim/iam';
export { type SimDatabaseSpec, SimulatedRds } from './sim/rds';
export { SimulatedS3 } from './sim/s3';
export { SimulatedSecrets } from './sim/secrets';

export class SimulatedAws {
  readonly iam: SimulatedIam;
  readonly rds = new SimulatedRds();
  readonly locks = new SimulatedLockTable();
  readonly secrets = new SimulatedSecrets();
  readonly s3 = new SimulatedS3();
  private mocks: Array<{ restore: () => void }> = [];
  /** The installed stubs, for asserting exact commands and inputs. */
  stubs!: {
    iam: AwsClientStub<IAMClient>;
    rds: AwsClientStub<RDSClient>;
    dynamodb: AwsClientStub<DynamoDBClient>;
    secrets: AwsClientStub<SecretsManagerClient>;
    s3: AwsClientStub<S3Client>;
  };

  constructor(accountId = '123456789012', partition = 'aws') {
    this.iam = new SimulatedIam(accountId, partition);
  }

  install(): this {
    this.stubs = { iam: this.iam.install(), rds: this.rds.install(), dynamodb: this.locks.install(), secrets: this.secrets.install(), s3: this.s3.install() };
    this.mocks = Object.values(this.stubs);
    return this;
  }

  restore(): void {
    for (const m of this.mocks) m.restore();
    this.mocks = [];
  }
}
