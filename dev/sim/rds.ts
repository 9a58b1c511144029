/**
 * A SIMULATION of RDS DescribeDBInstances / DescribeDBClusters / ModifyDB*: targets pointing at a real PostgreSQL
 * server, with the IAM-auth modification applied asynchronously.
 * NOT modelled: throttling, paging of describes (one target per call), maintenance windows beyond "pending".
 */
import {
  DBClusterNotFoundFault,
  DBInstanceNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RDSClient,
  type DBCluster,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { meta, tick } from '../sim-faults';

export interface SimDatabaseSpec {
  identifier: string;
  kind: 'instance' | 'cluster';
  region?: string;
  accountId?: string;
  partition?: string;
  host: string;
  port: number;
  engine?: string;
  engineVersion?: string;
  masterUser: string;
  iamAuthEnabled?: boolean;
  resourceId?: string;
  status?: string;
}

interface SimDatabase extends Required<SimDatabaseSpec> {
  /** Describe calls left until a pending IAM-auth change applies (immediate modifications). */
  pendingDescribes?: number;
  pendingApply?: 'immediate' | 'maintenance-window';
}

export class SimulatedRds {
  readonly databases = new Map<string, SimDatabase>();
  /** How many describe calls a modification takes to apply (RDS takes minutes). */
  describesUntilApplied = 2;

  add(spec: SimDatabaseSpec): SimDatabase {
    const db: SimDatabase = {
      region: 'eu-west-1',
      accountId: '123456789012',
      partition: 'aws',
      engine: spec.kind === 'cluster' ? 'aurora-postgresql' : 'postgres',
      engineVersion: '16.4',
      iamAuthEnabled: false,
      resourceId: `${spec.kind === 'cluster' ? 'cluster' : 'db'}-${spec.identifier
        .toUpperCase()
        .replace(/[^A-Z0-9]/g, '')
        .padEnd(26, 'X')
        .slice(0, 26)}`,
      status: 'available',
      ...spec,
    };
    this.databases.set(`${spec.kind}/${spec.identifier}`, db);
    return db;
  }

  /** The maintenance window arrives: changes that were not applied immediately apply now. */
  runMaintenanceWindow(): void {
    for (const db of this.databases.values()) {
      if (db.pendingApply === 'maintenance-window') this.apply(db);
    }
  }

  private apply(db: SimDatabase): void {
    db.iamAuthEnabled = true;
    db.status = 'available';
    db.pendingApply = undefined;
    db.pendingDescribes = undefined;
  }

  private advance(db: SimDatabase): void {
    if (db.pendingApply !== 'immediate') return;
    db.pendingDescribes = (db.pendingDescribes ?? 0) - 1;
    if (db.pendingDescribes <= 0) this.apply(db);
  }

  private arn(db: SimDatabase): string {
    return `arn:${db.partition}:rds:${db.region}:${db.accountId}:${db.kind === 'cluster' ? 'cluster' : 'db'}:${db.identifier}`;
  }

  private get(kind: 'instance' | 'cluster', id: string): SimDatabase {
    const db = this.databases.get(`${kind}/${id}`);
    if (!db) {
      throw kind === 'instance'
        ? new DBInstanceNotFoundFault({ message: `DBInstance ${id} not found.`, ...meta })
        : new DBClusterNotFoundFault({ message: `DBCluster ${id} not found.`, ...meta });
    }
    return db;
  }

  private modify(db: SimDatabase, enable: boolean | undefined, applyImmediately: boolean | undefined): void {
    if (enable === undefined || enable === db.iamAuthEnabled) return;
    if (applyImmediately) {
      db.status = 'configuring-iam-database-auth';
      db.pendingApply = 'immediate';
      db.pendingDescribes = this.describesUntilApplied;
    } else {
      db.pendingApply = 'maintenance-window';
    }
  }

  install(): AwsClientStub<RDSClient> {
    const m = mockClient(RDSClient);
    m.on(DescribeDBInstancesCommand).callsFake(async (i: { DBInstanceIdentifier: string }) => {
      await tick();
      const db = this.get('instance', i.DBInstanceIdentifier);
      const out: DBInstance = {
        DBInstanceIdentifier: db.identifier,
        DBInstanceArn: this.arn(db),
        DbiResourceId: db.resourceId,
        Engine: db.engine,
        EngineVersion: db.engineVersion,
        DBInstanceStatus: db.status,
        IAMDatabaseAuthenticationEnabled: db.iamAuthEnabled,
        MasterUsername: db.masterUser,
        Endpoint: { Address: db.host, Port: db.port },
        PendingModifiedValues: db.pendingApply ? { IAMDatabaseAuthenticationEnabled: true } : {},
      };
      this.advance(db);
      return { DBInstances: [out], ...meta };
    });
    m.on(DescribeDBClustersCommand).callsFake(async (i: { DBClusterIdentifier: string }) => {
      await tick();
      const db = this.get('cluster', i.DBClusterIdentifier);
      const out: DBCluster = {
        DBClusterIdentifier: db.identifier,
        DBClusterArn: this.arn(db),
        DbClusterResourceId: db.resourceId,
        Engine: db.engine,
        EngineVersion: db.engineVersion,
        Status: db.status,
        IAMDatabaseAuthenticationEnabled: db.iamAuthEnabled,
        MasterUsername: db.masterUser,
        Endpoint: db.host,
        ReaderEndpoint: `reader.${db.host}`,
        Port: db.port,
      };
      this.advance(db);
      return { DBClusters: [out], ...meta };
    });
    m.on(ModifyDBInstanceCommand).callsFake(
      async (i: { DBInstanceIdentifier: string; EnableIAMDatabaseAuthentication?: boolean; ApplyImmediately?: boolean }) => {
        await tick();
        this.modify(this.get('instance', i.DBInstanceIdentifier), i.EnableIAMDatabaseAuthentication, i.ApplyImmediately);
        return { DBInstance: { DBInstanceIdentifier: i.DBInstanceIdentifier }, ...meta };
      },
    );
    m.on(ModifyDBClusterCommand).callsFake(
      async (i: { DBClusterIdentifier: string; EnableIAMDatabaseAuthentication?: boolean; ApplyImmediately?: boolean }) => {
        await tick();
        this.modify(this.get('cluster', i.DBClusterIdentifier), i.EnableIAMDatabaseAuthentication, i.ApplyImmediately);
        return { DBCluster: { DBClusterIdentifier: i.DBClusterIdentifier }, ...meta };
      },
    );
    return m;
  }
}
