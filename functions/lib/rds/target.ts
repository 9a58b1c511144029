import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { arnParts, type Partition } from '../core/arn';
import { mapAwsError } from '../core/aws-errors';
import type { ResolvedTargetConfig } from '../core/config';
import { ProvisioningError } from '../core/errors';

/** What RDS says about a target, as the rest of the workflow needs it. */
export interface ResolvedTarget {
  kind: 'instance' | 'cluster';
  identifier: string;
  /** DbiResourceId (db-...) or DbClusterResourceId (cluster-...): what rds-db:connect ARNs name. */
  resourceId: string;
  arn: string;
  partition: Partition;
  region: string;
  accountId: string;
  /** The writer endpoint: DDL never goes to a reader or a replica. */
  host: string;
  port: number;
  engine: string;
  engineVersion: string;
  status: string;
  iamAuthEnabled: boolean;
  masterUser: string;
}

/** Lowest versions offering IAM database authentication, per engine and major version. */
const MIN_VERSIONS: Record<string, Array<[major: string, minimum: number[]]>> = {
  postgres: [
    ['9.5', [9, 5, 15]],
    ['9.6', [9, 6, 11]],
    ['10', [10, 6]],
  ],
  'aurora-postgresql': [['9.6', [9, 6, 9]]],
};

const parseVersion = (v: string): number[] => (v.match(/^\d+(\.\d+)*/)?.[0] ?? '0').split('.').map(Number);

const compareVersions = (a: number[], b: number[]): number => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
};

export const supportsIamAuth = (engine: string, engineVersion: string): boolean => {
  const rules = MIN_VERSIONS[engine];
  if (!rules) return false;
  const v = parseVersion(engineVersion);
  const lowest = rules[0][1];
  if (compareVersions(v, lowest) < 0) return false;
  const sameMajor = rules.find(([major]) => engineVersion === major || engineVersion.startsWith(`${major}.`));
  return sameMajor ? compareVersions(v, sameMajor[1]) >= 0 : true;
};

/** Statuses in which the target will not come back by itself: fail, do not wait. */
const UNAVAILABLE = new Set([
  'stopped',
  'stopping',
  'deleting',
  'failed',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'incompatible-network',
  'incompatible-option-group',
  'incompatible-parameters',
  'incompatible-restore',
  'insufficient-capacity',
  'restore-error',
  'storage-full',
]);
/** Statuses that pass by themselves; SQL cannot run yet. */
const TRANSITIONAL = new Set([
  'creating',
  'starting',
  'rebooting',
  'renaming',
  'resetting-master-credentials',
  'upgrading',
  'converting-to-vpc',
  'moving-to-vpc',
]);

/** Throws unless the target can take SQL now (TargetBusy is retried by the workflow). */
export const assertReachable = (t: ResolvedTarget): void => {
  if (UNAVAILABLE.has(t.status)) {
    throw new ProvisioningError('TargetUnavailable', `${t.kind} ${t.identifier} is ${t.status}; it must be available to manage database users`);
  }
  if (TRANSITIONAL.has(t.status)) throw new ProvisioningError('TargetBusy', `${t.kind} ${t.identifier} is ${t.status}; retrying later`);
};

const notSupported = (message: string): ProvisioningError => new ProvisioningError('TargetNotSupported', message);

const checkEngine = (kind: string, id: string, engine: string, version: string, allowed: string[]): void => {
  if (!allowed.includes(engine)) throw notSupported(`${kind} ${id} runs ${engine}; only ${allowed.join(' / ')} is supported`);
  if (!supportsIamAuth(engine, version)) {
    throw notSupported(
      `${kind} ${id} runs ${engine} ${version}, which has no IAM database authentication (RDS for ` +
        `PostgreSQL 9.5.15+, 9.6.11+, 10.6+; Aurora PostgreSQL 9.6.9+)`,
    );
  }
};

const fromInstance = (db: DBInstance, id: string): ResolvedTarget => {
  const engine = db.Engine ?? '';
  if (db.DBClusterIdentifier) {
    // Aurora and Multi-AZ DB cluster members: IAM auth, the resource id and the writer belong to the cluster.
    throw notSupported(`instance ${id} belongs to cluster ${db.DBClusterIdentifier}: configure the cluster as the target (kind: cluster)`);
  }
  if (db.ReadReplicaSourceDBInstanceIdentifier) {
    throw notSupported(`instance ${id} is a read replica of ${db.ReadReplicaSourceDBInstanceIdentifier}: users must be created on the source instance`);
  }
  checkEngine('instance', id, engine, db.EngineVersion ?? '', ['postgres']);
  if (!db.DbiResourceId || !db.DBInstanceArn || !db.Endpoint?.Address || !db.Endpoint.Port) {
    throw new ProvisioningError('TargetBusy', `instance ${id} has no endpoint or resource id yet (status ${db.DBInstanceStatus})`);
  }
  return {
    kind: 'instance',
    identifier: id,
    resourceId: db.DbiResourceId,
    arn: db.DBInstanceArn,
    ...arnParts(db.DBInstanceArn),
    host: db.Endpoint.Address,
    port: db.Endpoint.Port,
    engine,
    engineVersion: db.EngineVersion ?? '',
    status: db.DBInstanceStatus ?? 'unknown',
    iamAuthEnabled: db.IAMDatabaseAuthenticationEnabled === true,
    masterUser: db.MasterUsername ?? '',
  };
};

const fromCluster = (c: DBCluster, id: string): ResolvedTarget => {
  if (c.ReplicationSourceIdentifier) {
    throw notSupported(`cluster ${id} replicates from ${c.ReplicationSourceIdentifier}: users must be created on the primary cluster`);
  }
  const engine = c.Engine ?? '';
  // Multi-AZ DB clusters run engine "postgres"; Aurora runs "aurora-postgresql".
  checkEngine('cluster', id, engine, c.EngineVersion ?? '', ['aurora-postgresql', 'postgres']);
  if (!c.DbClusterResourceId || !c.DBClusterArn || !c.Endpoint || !c.Port) {
    throw new ProvisioningError('TargetBusy', `cluster ${id} has no writer endpoint or resource id yet (status ${c.Status})`);
  }
  return {
    kind: 'cluster',
    identifier: id,
    resourceId: c.DbClusterResourceId,
    arn: c.DBClusterArn,
    ...arnParts(c.DBClusterArn),
    host: c.Endpoint,
    port: c.Port,
    engine,
    engineVersion: c.EngineVersion ?? '',
    status: c.Status ?? 'unknown',
    iamAuthEnabled: c.IAMDatabaseAuthenticationEnabled === true,
    masterUser: c.MasterUsername ?? '',
  };
};

const NOT_FOUND = { DBInstanceNotFoundFault: 'TargetNotFound', DBInstanceNotFound: 'TargetNotFound', DBClusterNotFoundFault: 'TargetNotFound' } as const;

export const describeTarget = async (rds: RDSClient, target: ResolvedTargetConfig): Promise<ResolvedTarget> => {
  let resolved: ResolvedTarget;
  try {
    if (target.kind === 'instance') {
      const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: target.identifier }));
      const db = out.DBInstances?.[0];
      if (!db) throw new ProvisioningError('TargetNotFound', `instance ${target.identifier} not found in ${target.region}`);
      resolved = fromInstance(db, target.identifier);
    } else {
      const out = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: target.identifier }));
      const c = out.DBClusters?.[0];
      if (!c) throw new ProvisioningError('TargetNotFound', `cluster ${target.identifier} not found in ${target.region}`);
      resolved = fromCluster(c, target.identifier);
    }
  } catch (e) {
    return mapAwsError(e, `describe ${target.kind} ${target.identifier}`, NOT_FOUND);
  }
  if (resolved.accountId !== target.accountId || resolved.region !== target.region) {
    throw new ProvisioningError(
      'ConfigurationError',
      `target "${target.name}" is configured in ${target.accountId}/${target.region} but RDS reports ${resolved.arn}`,
    );
  }
  return resolved;
};

/** Asks RDS to turn IAM database authentication on; the caller waits for it to apply. */
const assertMayEnableIamAuth = (target: ResolvedTargetConfig): void => {
  if (target.iamAuth.enable === 'never') {
    throw new ProvisioningError(
      'IamAuthDisabled',
      `IAM database authentication is off on ${target.kind} ${target.identifier} and target ` +
        `"${target.name}" is configured not to turn it on (iamAuth.enable: never)`,
    );
  }
};

/** The RDS change onboarding would make for IAM authentication: none when it is on already. */
export const planIamAuth = (
  target: ResolvedTargetConfig,
  db: ResolvedTarget,
): { action: 'rds:ModifyDBInstance' | 'rds:ModifyDBCluster'; applyImmediately: boolean } | undefined => {
  if (db.iamAuthEnabled) return undefined;
  assertMayEnableIamAuth(target);
  return { action: target.kind === 'instance' ? 'rds:ModifyDBInstance' : 'rds:ModifyDBCluster', applyImmediately: target.iamAuth.enable === 'immediately' };
};

export const enableIamAuth = async (rds: RDSClient, target: ResolvedTargetConfig): Promise<{ applyImmediately: boolean }> => {
  assertMayEnableIamAuth(target);
  const applyImmediately = target.iamAuth.enable === 'immediately';
  try {
    if (target.kind === 'instance') {
      await rds.send(
        new ModifyDBInstanceCommand({ DBInstanceIdentifier: target.identifier, EnableIAMDatabaseAuthentication: true, ApplyImmediately: applyImmediately }),
      );
    } else {
      await rds.send(
        new ModifyDBClusterCommand({ DBClusterIdentifier: target.identifier, EnableIAMDatabaseAuthentication: true, ApplyImmediately: applyImmediately }),
      );
    }
  } catch (e) {
    return mapAwsError(e, `enable IAM auth on ${target.kind} ${target.identifier}`, {
      ...NOT_FOUND,
      InvalidDBInstanceStateFault: 'TargetBusy',
      InvalidDBClusterStateFault: 'TargetBusy',
    });
  }
  return { applyImmediately };
};

/** True once RDS reports the flag on and the modification applied. */
export const iamAuthReady = (t: ResolvedTarget): boolean => t.iamAuthEnabled && t.status === 'available';
