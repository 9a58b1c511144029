import {
  DBInstanceNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RDSClient,
  type DBCluster,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ResolvedTargetConfig, targetSchema } from '../../../functions/lib/core/config';
import { type ErrorCode, ProvisioningError } from '../../../functions/lib/core/errors';
import { assertReachable, describeTarget, enableIamAuth, iamAuthReady, type ResolvedTarget, supportsIamAuth } from '../../../functions/lib/rds/target';

const rdsMock = mockClient(RDSClient);
let rds: RDSClient;

beforeEach(() => {
  rdsMock.reset();
  rds = new RDSClient({ region: 'eu-west-1' });
});
afterEach(() => rdsMock.reset());

type TargetInput = Partial<Omit<ResolvedTargetConfig, 'iamAuth'>> & { iamAuth?: { enable?: 'immediately' | 'next-maintenance-window' | 'never' } };

/** A target as it travels in an execution's input: parsed by the real schema, plus its name. */
const targetConfig = (overrides: TargetInput = {}): ResolvedTargetConfig => {
  const { name = 'orders', ...rest } = overrides;
  return {
    name,
    ...targetSchema().parse({
      kind: 'instance',
      identifier: 'orders-db',
      region: 'eu-west-1',
      accountId: '123456789012',
      allowedDbRoles: ['app_read'],
      admin: { method: 'iam', user: 'provisioner' },
      successorRole: 'data_owner',
      ...rest,
    }),
  };
};

const instance = (overrides: Partial<DBInstance> = {}): DBInstance => ({
  DBInstanceIdentifier: 'orders-db',
  DBInstanceArn: 'arn:aws:rds:eu-west-1:123456789012:db:orders-db',
  DbiResourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0',
  Engine: 'postgres',
  EngineVersion: '16.4',
  DBInstanceStatus: 'available',
  Endpoint: { Address: 'orders-db.abc123xyz.eu-west-1.rds.amazonaws.com', Port: 5432, HostedZoneId: 'Z29XKXDKYMONMX' },
  MasterUsername: 'dbmaster',
  IAMDatabaseAuthenticationEnabled: true,
  ...overrides,
});

const cluster = (overrides: Partial<DBCluster> = {}): DBCluster => ({
  DBClusterIdentifier: 'ledger',
  DBClusterArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:ledger',
  DbClusterResourceId: 'cluster-ZYXWVUTSRQPONMLKJIHGFEDCB1',
  Engine: 'aurora-postgresql',
  EngineVersion: '16.4',
  Status: 'available',
  Endpoint: 'ledger.cluster-abc123xyz.eu-west-1.rds.amazonaws.com',
  ReaderEndpoint: 'ledger.cluster-ro-abc123xyz.eu-west-1.rds.amazonaws.com',
  Port: 5433,
  MasterUsername: 'clustermaster',
  IAMDatabaseAuthenticationEnabled: false,
  ...overrides,
});

const clusterTarget = (overrides: TargetInput = {}): ResolvedTargetConfig =>
  targetConfig({ name: 'ledger', kind: 'cluster', identifier: 'ledger', ...overrides });

/** Awaits a promise that must reject with a ProvisioningError of the given code, and returns it. */
const rejection = async (p: Promise<unknown>, code: ErrorCode): Promise<ProvisioningError> => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(ProvisioningError);
  const pe = e as ProvisioningError;
  expect(pe.code, pe.message).toBe(code);
  expect(pe.name).toBe(code);
  return pe;
};

const resolved = (overrides: Partial<ResolvedTarget> = {}): ResolvedTarget => ({
  kind: 'instance',
  identifier: 'orders-db',
  resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0',
  arn: 'arn:aws:rds:eu-west-1:123456789012:db:orders-db',
  partition: 'aws',
  region: 'eu-west-1',
  accountId: '123456789012',
  host: 'orders-db.abc123xyz.eu-west-1.rds.amazonaws.com',
  port: 5432,
  engine: 'postgres',
  engineVersion: '16.4',
  status: 'available',
  iamAuthEnabled: true,
  masterUser: 'dbmaster',
  ...overrides,
});

describe('describeTarget: instance', () => {
  it('returns resource id, writer endpoint, ARN parts and flags, after one exact DescribeDBInstances call', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance()] });
    const t = await describeTarget(rds, targetConfig());
    expect(t).toEqual({
      kind: 'instance',
      identifier: 'orders-db',
      resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0',
      arn: 'arn:aws:rds:eu-west-1:123456789012:db:orders-db',
      partition: 'aws',
      region: 'eu-west-1',
      accountId: '123456789012',
      host: 'orders-db.abc123xyz.eu-west-1.rds.amazonaws.com',
      port: 5432,
      engine: 'postgres',
      engineVersion: '16.4',
      status: 'available',
      iamAuthEnabled: true,
      masterUser: 'dbmaster',
    });
    const calls = rdsMock.commandCalls(DescribeDBInstancesCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ DBInstanceIdentifier: 'orders-db' });
    expect(rdsMock.commandCalls(DescribeDBClustersCommand)).toHaveLength(0);
    expect(rdsMock.calls()).toHaveLength(1);
  });

  it('reports IAM auth off when the flag is false or absent, and keeps the status RDS reports', async () => {
    rdsMock
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [instance({ IAMDatabaseAuthenticationEnabled: undefined, DBInstanceStatus: 'modifying' })] });
    const t = await describeTarget(rds, targetConfig());
    expect(t.iamAuthEnabled).toBe(false);
    expect(t.status).toBe('modifying');
    expect(iamAuthReady(t)).toBe(false);
  });

  it('reads partition, region and account from DBInstanceArn (aws-cn)', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        instance({
          DBInstanceArn: 'arn:aws-cn:rds:cn-north-1:210987654321:db:orders-db',
          Endpoint: { Address: 'orders-db.x.rds.cn-north-1.amazonaws.com.cn', Port: 5432 },
        }),
      ],
    });
    const t = await describeTarget(rds, targetConfig({ region: 'cn-north-1', accountId: '210987654321' }));
    expect(t).toMatchObject({ partition: 'aws-cn', region: 'cn-north-1', accountId: '210987654321', host: 'orders-db.x.rds.cn-north-1.amazonaws.com.cn' });
  });

  it('an empty DescribeDBInstances answer is TargetNotFound', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    await rejection(describeTarget(rds, targetConfig()), 'TargetNotFound');
  });
});

describe('describeTarget: cluster', () => {
  it('uses DbClusterResourceId and the writer Endpoint (never the ReaderEndpoint), after one exact DescribeDBClusters call', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster()] });
    const t = await describeTarget(rds, clusterTarget());
    expect(t).toEqual({
      kind: 'cluster',
      identifier: 'ledger',
      resourceId: 'cluster-ZYXWVUTSRQPONMLKJIHGFEDCB1',
      arn: 'arn:aws:rds:eu-west-1:123456789012:cluster:ledger',
      partition: 'aws',
      region: 'eu-west-1',
      accountId: '123456789012',
      host: 'ledger.cluster-abc123xyz.eu-west-1.rds.amazonaws.com',
      port: 5433,
      engine: 'aurora-postgresql',
      engineVersion: '16.4',
      status: 'available',
      iamAuthEnabled: false,
      masterUser: 'clustermaster',
    });
    expect(t.host).not.toContain('cluster-ro-');
    const calls = rdsMock.commandCalls(DescribeDBClustersCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ DBClusterIdentifier: 'ledger' });
    expect(rdsMock.commandCalls(DescribeDBInstancesCommand)).toHaveLength(0);
    expect(rdsMock.calls()).toHaveLength(1);
  });

  it('accepts a Multi-AZ DB cluster (engine postgres)', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster({ Engine: 'postgres', EngineVersion: '15.7' })] });
    const t = await describeTarget(rds, clusterTarget());
    expect(t).toMatchObject({ kind: 'cluster', engine: 'postgres', engineVersion: '15.7' });
  });

  it('refuses a cluster that replicates from another (ReplicationSourceIdentifier) with TargetNotSupported', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({
      DBClusters: [cluster({ ReplicationSourceIdentifier: 'arn:aws:rds:us-east-1:123456789012:cluster:ledger-primary' })],
    });
    const e = await rejection(describeTarget(rds, clusterTarget()), 'TargetNotSupported');
    expect(e.message).toContain('ledger-primary');
  });

  it('an empty DescribeDBClusters answer is TargetNotFound', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
    await rejection(describeTarget(rds, clusterTarget()), 'TargetNotFound');
  });
});

describe('describeTarget: refusals (TargetNotSupported)', () => {
  it('refuses a read replica', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ ReadReplicaSourceDBInstanceIdentifier: 'orders-primary' })] });
    const e = await rejection(describeTarget(rds, targetConfig()), 'TargetNotSupported');
    expect(e.message).toContain('read replica');
    expect(e.message).toContain('orders-primary');
  });

  it('refuses an Aurora member instance configured as kind instance', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [instance({ Engine: 'aurora-postgresql', EngineVersion: '16.4', DBClusterIdentifier: 'ledger' })],
    });
    const e = await rejection(describeTarget(rds, targetConfig()), 'TargetNotSupported');
    expect(e.message).toContain('ledger');
    expect(e.message).toContain('kind: cluster');
  });

  it('refuses a MySQL instance', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ Engine: 'mysql', EngineVersion: '8.0.39' })] });
    const e = await rejection(describeTarget(rds, targetConfig()), 'TargetNotSupported');
    expect(e.message).toContain('mysql');
  });

  it('refuses an aurora-mysql cluster', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster({ Engine: 'aurora-mysql', EngineVersion: '8.0.mysql_aurora.3.05.2' })] });
    await rejection(describeTarget(rds, clusterTarget()), 'TargetNotSupported');
  });

  it.each(['9.5.14', '9.6.10', '10.5', '9.4.26', '9.5.2'])('refuses RDS for PostgreSQL %s (no IAM database authentication)', async (version) => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ EngineVersion: version })] });
    const e = await rejection(describeTarget(rds, targetConfig()), 'TargetNotSupported');
    expect(e.message).toContain(version);
  });

  it.each(['9.5.15', '9.6.11', '10.6', '10.21', '11.1', '16.4', '17.2'])('accepts RDS for PostgreSQL %s', async (version) => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ EngineVersion: version })] });
    const t = await describeTarget(rds, targetConfig());
    expect(t.engineVersion).toBe(version);
  });

  it('refuses Aurora PostgreSQL 9.6.8 and accepts 9.6.9', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster({ EngineVersion: '9.6.8' })] });
    await rejection(describeTarget(rds, clusterTarget()), 'TargetNotSupported');
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster({ EngineVersion: '9.6.9' })] });
    const t = await describeTarget(rds, clusterTarget());
    expect(t.engineVersion).toBe('9.6.9');
  });

  it('supportsIamAuth agrees with the documented minimum versions', () => {
    expect(supportsIamAuth('postgres', '9.5.14')).toBe(false);
    expect(supportsIamAuth('postgres', '9.5.15')).toBe(true);
    expect(supportsIamAuth('postgres', '9.6.10')).toBe(false);
    expect(supportsIamAuth('postgres', '9.6.11')).toBe(true);
    expect(supportsIamAuth('postgres', '10.5')).toBe(false);
    expect(supportsIamAuth('postgres', '10.6')).toBe(true);
    expect(supportsIamAuth('postgres', '11.1')).toBe(true);
    expect(supportsIamAuth('aurora-postgresql', '9.6.8')).toBe(false);
    expect(supportsIamAuth('aurora-postgresql', '9.6.9')).toBe(true);
    expect(supportsIamAuth('aurora-postgresql', '11.9')).toBe(true);
    expect(supportsIamAuth('mysql', '8.0.39')).toBe(false);
  });
});

describe('describeTarget: AWS errors', () => {
  it('DBInstanceNotFoundFault becomes TargetNotFound, keeping the SDK error as cause', async () => {
    const fault = new DBInstanceNotFoundFault({ message: 'DBInstance orders-db not found.', $metadata: {} });
    rdsMock.on(DescribeDBInstancesCommand).rejects(fault);
    const e = await rejection(describeTarget(rds, targetConfig()), 'TargetNotFound');
    expect(e.message).toContain('DBInstanceNotFoundFault');
    expect(e.cause).toBe(fault);
    expect(e.retryable).toBe(false);
  });

  it('a ThrottlingException becomes TransientAwsError (retryable)', async () => {
    rdsMock.on(DescribeDBInstancesCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const e = await rejection(describeTarget(rds, targetConfig()), 'TransientAwsError');
    expect(e.retryable).toBe(true);
  });

  it('an unexpected AWS error is rethrown unchanged', async () => {
    const err = Object.assign(new Error('User is not authorized to perform rds:DescribeDBInstances'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    rdsMock.on(DescribeDBInstancesCommand).rejects(err);
    await expect(describeTarget(rds, targetConfig())).rejects.toBe(err);
  });

  it('an ARN in another account than configured is ConfigurationError', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ DBInstanceArn: 'arn:aws:rds:eu-west-1:999999999999:db:orders-db' })] });
    const e = await rejection(describeTarget(rds, targetConfig()), 'ConfigurationError');
    expect(e.message).toContain('999999999999');
  });

  it('an ARN in another Region than configured is ConfigurationError', async () => {
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster({ DBClusterArn: 'arn:aws:rds:us-east-1:123456789012:cluster:ledger' })] });
    const e = await rejection(describeTarget(rds, clusterTarget()), 'ConfigurationError');
    expect(e.message).toContain('us-east-1');
  });
});

describe('enableIamAuth', () => {
  it("instance, enable: 'immediately': exactly one ModifyDBInstance with ApplyImmediately true", async () => {
    rdsMock.on(ModifyDBInstanceCommand).resolves({});
    const target = targetConfig({ iamAuth: { enable: 'immediately' } });
    expect(await enableIamAuth(rds, target)).toEqual({ applyImmediately: true });
    const calls = rdsMock.commandCalls(ModifyDBInstanceCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ DBInstanceIdentifier: 'orders-db', EnableIAMDatabaseAuthentication: true, ApplyImmediately: true });
    expect(rdsMock.calls()).toHaveLength(1);
  });

  it("the default of iamAuth.enable is 'immediately'", async () => {
    rdsMock.on(ModifyDBInstanceCommand).resolves({});
    const target = targetConfig();
    expect(target.iamAuth.enable).toBe('immediately');
    expect(await enableIamAuth(rds, target)).toEqual({ applyImmediately: true });
  });

  it("instance, enable: 'next-maintenance-window': ApplyImmediately false", async () => {
    rdsMock.on(ModifyDBInstanceCommand).resolves({});
    expect(await enableIamAuth(rds, targetConfig({ iamAuth: { enable: 'next-maintenance-window' } }))).toEqual({ applyImmediately: false });
    const calls = rdsMock.commandCalls(ModifyDBInstanceCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ DBInstanceIdentifier: 'orders-db', EnableIAMDatabaseAuthentication: true, ApplyImmediately: false });
  });

  it('cluster: ModifyDBCluster with the cluster identifier, no ModifyDBInstance', async () => {
    rdsMock.on(ModifyDBClusterCommand).resolves({});
    expect(await enableIamAuth(rds, clusterTarget())).toEqual({ applyImmediately: true });
    const calls = rdsMock.commandCalls(ModifyDBClusterCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ DBClusterIdentifier: 'ledger', EnableIAMDatabaseAuthentication: true, ApplyImmediately: true });
    expect(rdsMock.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it("enable: 'never' is IamAuthDisabled and calls nothing", async () => {
    rdsMock.on(ModifyDBInstanceCommand).resolves({});
    rdsMock.on(ModifyDBClusterCommand).resolves({});
    await rejection(enableIamAuth(rds, targetConfig({ iamAuth: { enable: 'never' } })), 'IamAuthDisabled');
    await rejection(enableIamAuth(rds, clusterTarget({ iamAuth: { enable: 'never' } })), 'IamAuthDisabled');
    expect(rdsMock.calls()).toHaveLength(0);
  });

  it('InvalidDBInstanceStateFault becomes TargetBusy (retryable)', async () => {
    rdsMock.on(ModifyDBInstanceCommand).rejects(new InvalidDBInstanceStateFault({ message: 'Instance orders-db is not in available state.', $metadata: {} }));
    const e = await rejection(enableIamAuth(rds, targetConfig()), 'TargetBusy');
    expect(e.retryable).toBe(true);
  });

  it('DBInstanceNotFoundFault becomes TargetNotFound', async () => {
    rdsMock.on(ModifyDBInstanceCommand).rejects(new DBInstanceNotFoundFault({ message: 'DBInstance orders-db not found.', $metadata: {} }));
    await rejection(enableIamAuth(rds, targetConfig()), 'TargetNotFound');
  });
});

describe('assertReachable', () => {
  it.each(['stopped', 'stopping', 'deleting', 'failed', 'storage-full', 'inaccessible-encryption-credentials'])('%s -> TargetUnavailable', (status) => {
    let caught: unknown;
    try {
      assertReachable(resolved({ status }));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ProvisioningError);
    expect((caught as ProvisioningError).code).toBe('TargetUnavailable');
    expect((caught as ProvisioningError).retryable).toBe(false);
  });

  it.each(['rebooting', 'starting', 'creating', 'upgrading', 'renaming'])('%s -> TargetBusy', (status) => {
    let caught: unknown;
    try {
      assertReachable(resolved({ status }));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ProvisioningError);
    expect((caught as ProvisioningError).code).toBe('TargetBusy');
    expect((caught as ProvisioningError).retryable).toBe(true);
  });

  it.each(['available', 'backing-up', 'configuring-iam-database-auth', 'modifying', 'maintenance'])('%s passes', (status) => {
    expect(() => assertReachable(resolved({ status }))).not.toThrow();
  });

  it('iamAuthReady needs the flag on and the status available', () => {
    expect(iamAuthReady(resolved())).toBe(true);
    expect(iamAuthReady(resolved({ status: 'configuring-iam-database-auth' }))).toBe(false);
    expect(iamAuthReady(resolved({ iamAuthEnabled: false }))).toBe(false);
  });
});
