/**
 * Read by serverless.yml at package/deploy time: loads the targets file named by TARGETS_FILE
 * (default: config/targets.example.json), validates it with the same schema the functions use,
 * and derives what the stack needs from it: the functions' TARGETS_CONFIG, their VPC, the
 * reserved concurrency, and the exact resources each role may touch. The functions themselves come from
 * config/functions.ts and the identity providers' rules and statements from functions/lib/idp/providers.
 */
require('tsx/cjs');
const { resolve } = require('node:path');
const { loadConfigFile } = require('../functions/lib/core/config-file.ts');
const { ConfigurationError } = require('../functions/lib/core/errors.ts');
const { FUNCTIONS, roleOf, logGroupOf, normalizedName } = require('./functions.ts');
const { directoryStatements, eventRules } = require('../functions/lib/idp/providers/index.ts');
const LAMBDA_TRUST = require('./lambda-trust.json');
const VPC_ENI = require('./vpc-eni-statement.json');

const file = resolve(__dirname, '..', process.env.TARGETS_FILE || 'config/targets.example.json');
const config = loadOrExit(file);

/**
 * The targets file checked with the functions' own schema, plus what only a deployment needs (deploymentProblems).
 * A bad file ends the process with its problems and nothing else: thrown, osls would print them inside its
 * variable-resolution error, after "Cannot resolve serverless.yml ... Initialization error" and a stack trace.
 */
function loadOrExit(path) {
  try {
    return loadConfigFile(path, { deploying: true });
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    process.stderr.write(
      `\n${e.message}\n\nNothing was packaged. The targets file is TARGETS_FILE (default config/targets.example.json); see README "Configuration".\n`,
    );
    process.exit(1);
  }
}
const targets = Object.values(config.targets);
const partitionOf = (region) => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');
const rdsArn = (t) => `arn:${partitionOf(t.region)}:rds:${t.region}:${t.accountId}:${t.kind === 'cluster' ? 'cluster' : 'db'}:${t.identifier}`;
const { deployment, ...runtime } = config;
const unique = (xs) => [...new Set(xs)];
/** Lambda active tracing (serverless.yml provider.tracing): these X-Ray actions take no resource. */
const TRACING = { Sid: 'Tracing', Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' };

module.exports = ({ options } = {}) => {
  const prefix = `rds-iam-access-${options?.stage || 'dev'}`;
  const kms = encryption(deployment.kms);
  const parts = {
    prefix,
    describeTargets: rdsStatements({ instance: 'rds:DescribeDBInstances', cluster: 'rds:DescribeDBClusters' }),
    modifyTargets: rdsStatements({ instance: 'rds:ModifyDBInstance', cluster: 'rds:ModifyDBCluster' }),
    adminCredentials: adminAccessStatements(),
    grantAttach: grantAttachStatements(),
    identityProviders: directoryStatements(config.idp, home()),
    repairsGrants: config.operations.reconcile.repair.removeDanglingGrants,
    idpEventRules: idpEventRules(prefix),
    reconcile: { schedule: config.operations.reconcile.schedule, enabled: config.operations.reconcile.enabled },
  };
  const roles = functionRoles(parts);
  return {
    targetsJson: JSON.stringify(runtime),
    // config/functions.ts as serverless.yml's functions, and their roles and encrypted log groups as its resources.
    functions: serverlessFunctions(parts),
    functionResources: {
      Resources: roles,
      extensions: Object.fromEntries(Object.keys(FUNCTIONS).map((key) => [logGroupOf(key), { Properties: { KmsKeyId: kms.kmsKeyArn } }])),
    },
    throttledFunctionsMetrics: throttledFunctionsMetrics(),
    // What config/functions.ts's statements and events were given (the template test derives each role from them).
    stackParts: parts,
    archiveBucketProperties: archiveBucketProperties(deployment.archive, kms.kmsKeyArn),
    // Operations (README "Operations"): the alarm e-mail, when and whether the reconcile runs, and its role.
    alarmEmail: config.operations.alarmEmail || '',
    reconcileSchedule: config.operations.reconcile.schedule,
    reconcileEnabled: config.operations.reconcile.enabled,
    reconcilePolicies: roles[roleOf('accessReconcile')].Properties.Policies,
    ...kms,
    encryptionKeyPolicy: encryptionKeyPolicy(deployment.kms.readers, prefix, keyUsers(roles)),
  };
};

/** The limiter's slots: an SQS event source's MaximumConcurrency is 2 at least (dev/asl-runner.ts queueConcurrency). */
const SLOTS = { dbConcurrency: Math.max(2, config.dbConcurrency), grantConcurrency: config.iam.grantConcurrency };
/** A function's reserved concurrency: a limiter's slots, dbConcurrency for the other database functions. */
const reservedConcurrencyOf = (f) => (f.queue ? SLOTS[f.queue.slots] : f.database ? config.dbConcurrency : undefined);

function serverlessFunctions(parts) {
  const entries = Object.entries(FUNCTIONS).map(([key, f]) => {
    const reserved = reservedConcurrencyOf(f);
    const fn = {
      handler: `${f.file}.${f.queue ? 'queueHandler' : 'handler'}`,
      package: '${self:custom.functionPackage}',
      description: f.description,
      role: roleOf(key),
      ...(f.timeout ? { timeout: f.timeout } : {}),
      ...(reserved ? { reservedConcurrency: reserved } : {}),
      ...(f.async ? { maximumRetryAttempts: f.async.maximumRetryAttempts } : {}),
      ...(f.async?.deadLetterQueue ? { destinations: { onFailure: { type: 'sqs', arn: { 'Fn::GetAtt': [f.async.deadLetterQueue, 'Arn'] } } } } : {}),
      ...(f.environment ? { environment: typeof f.environment === 'function' ? f.environment(parts) : f.environment } : {}),
      events: [
        ...(f.queue ? [{ sqs: { arn: { 'Fn::GetAtt': [f.queue.id, 'Arn'] }, batchSize: 1, maximumConcurrency: reserved } }] : []),
        ...(f.events ? f.events(parts) : []),
      ],
      ...(f.database ? { vpc: { subnetIds: deployment.vpc.subnetIds, securityGroupIds: deployment.vpc.securityGroupIds } } : {}),
    };
    return [key, fn];
  });
  return Object.fromEntries(entries);
}

/** Each function's role: its log group and X-Ray first, the VPC's network interfaces for a database function, then its own statements. */
function functionRoles(parts) {
  const entries = Object.entries(FUNCTIONS).map(([key, f]) => {
    const [[firstName, first], ...rest] = Object.entries(f.policies(parts));
    const base = [
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupOf(key), 'Arn'] } },
      TRACING,
      ...(f.database ? [VPC_ENI] : []),
    ];
    const policies = [[firstName, [...base, ...first]], ...rest].map(([PolicyName, Statement]) => ({
      PolicyName,
      PolicyDocument: { Version: '2012-10-17', Statement },
    }));
    return [roleOf(key), { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: LAMBDA_TRUST, Policies: policies } }];
  });
  return Object.fromEntries(entries);
}

/** The Throttles of every function with reserved concurrency, summed (serverless.yml DatabaseFunctionsThrottledAlarm). */
function throttledFunctionsMetrics() {
  const capped = Object.keys(FUNCTIONS).filter((key) => reservedConcurrencyOf(FUNCTIONS[key]) !== undefined);
  const id = (key) => key.charAt(0).toLowerCase() + key.slice(1);
  return [
    ...capped.map((key) => ({
      Id: id(key),
      ReturnData: false,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/Lambda',
          MetricName: 'Throttles',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: `${normalizedName(key)}LambdaFunction` } }],
        },
        Period: 300,
        Stat: 'Sum',
      },
    })),
    { Id: 'throttles', ReturnData: true, Label: 'Throttles of the functions with reserved concurrency', Expression: `SUM([${capped.map(id).join(', ')}])` },
  ];
}

/**
 * One KMS key for the archive bucket, the log groups, the dead-letter queues and the lock table: the configured
 * customer-managed key (deployment.kms.keyArn; its policy is the customer's, README "Encryption"), or a key this stack
 * creates. The created key's policy names exactly who uses it: CloudWatch Logs for this stack's log groups, EventBridge
 * for its rules' dead letters, and each function role for the one service it reaches the key through.
 */
function encryption(kms) {
  const created = !kms.keyArn;
  return {
    kmsKeyArn: created ? { 'Fn::GetAtt': ['EncryptionKey', 'Arn'] } : kms.keyArn,
    // A CloudFormation condition: the key resource exists only when no customer-managed key is configured.
    createsEncryptionKey: { 'Fn::Equals': [String(created), 'true'] },
    // The deployment bucket exists before any other resource (osls creates it first), so it cannot use a key the stack
    // creates: the customer's key, or S3's AWS-managed key.
    deploymentBucketEncryption: {
      ServerSideEncryptionConfiguration: [
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', ...(created ? {} : { KMSMasterKeyID: kms.keyArn }) }, BucketKeyEnabled: true },
      ],
    },
  };
}

/**
 * Roles that reach the key, by service, read from what their statements allow: a role that writes or reads the archive,
 * sends to or receives from a queue, or writes the lock table uses the key through that service. CloudFormation names
 * the roles STACK-LogicalId-suffix (see grantAttachStatements). The onboarding state machine sends to the limiters' queues.
 */
function keyUsers(roles) {
  const using = (action) =>
    Object.keys(roles).filter((id) =>
      roles[id].Properties.Policies.some((p) =>
        p.PolicyDocument.Statement.some((st) => st.Effect === 'Allow' && [st.Action].flat().some((a) => action.test(a))),
      ),
    );
  return {
    s3Write: using(/^s3:PutObject$/),
    s3Read: using(/^s3:GetObject$/),
    sqs: [...using(/^sqs:SendMessage$/), 'OnboardStateMachineRole'],
    // The limiters' event source mappings read their queues with the functions' roles.
    sqsReceive: using(/^sqs:ReceiveMessage$/),
    dynamodb: using(/^dynamodb:/),
  };
}

function encryptionKeyPolicy(readers, prefix, users) {
  const sub = (s) => ({ 'Fn::Sub': s });
  const account = sub('${AWS::AccountId}');
  const roles = (ids) => ids.map((id) => sub(`arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/\${AWS::StackName}-${id}-*`));
  const via = (...services) => ({ 'kms:ViaService': services.map((svc) => sub(`${svc}.\${AWS::Region}.amazonaws.com`)), 'kms:CallerAccount': account });
  // Principal "*" with the caller's ARN pinned: the named roles need no identity policy for the key (none of them can
  // name it without a dependency cycle: role -> its log group -> the key), and nobody else matches.
  const use = (Sid, ids, Action, ...services) => ({
    Sid,
    Effect: 'Allow',
    Principal: { AWS: '*' },
    Action,
    Resource: '*',
    Condition: { StringEquals: via(...services), ArnLike: { 'aws:PrincipalArn': roles(ids) } },
  });
  return {
    Version: '2012-10-17',
    Statement: [
      {
        // The account administers the key through IAM (so it can never become unmanageable), but this statement lets
        // nobody encrypt or decrypt with it.
        Sid: 'KeyAdministration',
        Effect: 'Allow',
        Principal: { AWS: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
        Action: [
          'kms:DescribeKey',
          'kms:GetKeyPolicy',
          'kms:PutKeyPolicy',
          'kms:GetKeyRotationStatus',
          'kms:EnableKeyRotation',
          'kms:DisableKeyRotation',
          'kms:ListResourceTags',
          'kms:TagResource',
          'kms:UntagResource',
          'kms:ListGrants',
          'kms:RevokeGrant',
          'kms:EnableKey',
          'kms:DisableKey',
          'kms:UpdateKeyDescription',
          'kms:CreateAlias',
          'kms:UpdateAlias',
          'kms:DeleteAlias',
          'kms:ScheduleKeyDeletion',
          'kms:CancelKeyDeletion',
        ],
        Resource: '*',
      },
      {
        // DynamoDB creates a grant when the table is created or restored (with the deployer's credentials).
        Sid: 'GrantsForAwsResourcesOnly',
        Effect: 'Allow',
        Principal: { AWS: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      },
      {
        // AWS Control Tower CT.KMS.PR.3.
        Sid: 'DenyGrantsExceptForAwsServices',
        Effect: 'Deny',
        Principal: '*',
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
      },
      {
        Sid: 'CloudWatchLogsForThisStacksLogGroups',
        Effect: 'Allow',
        Principal: { Service: sub('logs.${AWS::Region}.amazonaws.com') },
        Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        Resource: '*',
        Condition: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': [
              sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${prefix}-*`),
              sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/vendedlogs/states/${prefix}-*`),
              sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/http-api/${prefix}`),
            ],
          },
        },
      },
      {
        // Undeliverable events of this stack's rules land in the (encrypted) dead-letter queues.
        Sid: 'EventBridgeDeadLettersOfThisStacksRules',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': sub(`arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/*${prefix}-*`) },
        },
      },
      use('ArchiveWriteByArchiveAndReconcile', users.s3Write, ['kms:GenerateDataKey'], 's3'),
      use('ArchiveReadByApi', users.s3Read, ['kms:Decrypt'], 's3'),
      use('QueueSenders', users.sqs, ['kms:GenerateDataKey', 'kms:Decrypt'], 'sqs'),
      use('QueueReceivers', users.sqsReceive, ['kms:Decrypt'], 'sqs'),
      use('LockTableByLeaseHolders', users.dynamodb, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], 'dynamodb'),
      ...(readers.length
        ? [
            {
              // deployment.kms.readers: operators who read and redrive dead letters or read the archive directly.
              Sid: 'ConfiguredReaders',
              Effect: 'Allow',
              Principal: { AWS: '*' },
              Action: ['kms:Decrypt', 'kms:DescribeKey'],
              Resource: '*',
              Condition: { StringEquals: via('sqs', 's3'), ArnEquals: { 'aws:PrincipalArn': readers } },
            },
          ]
        : []),
    ],
  };
}

/**
 * What the grant function may attach: only policies under /rds-iam-access/, never to a role of this stack (a
 * compromised or misused grant step must not widen the project's own permissions), and, when configured, only to
 * principals carrying a tag or a permissions boundary (iam.grantablePrincipals).
 */
function grantAttachStatements() {
  const sub = (s) => ({ 'Fn::Sub': s });
  const attach = ['iam:AttachRolePolicy', 'iam:AttachUserPolicy'];
  const { tag, permissionsBoundaryArn } = config.iam.grantablePrincipals;
  const condition = {
    ArnLike: { 'iam:PolicyARN': sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/rds-iam-access/*') },
    ...(tag ? { StringEquals: { [`aws:ResourceTag/${tag.key}`]: tag.value } } : {}),
    ...(permissionsBoundaryArn ? { ArnEquals: { 'iam:PermissionsBoundary': permissionsBoundaryArn } } : {}),
  };
  return [
    {
      Sid: 'AttachOwnGrantPoliciesOnly',
      Effect: 'Allow',
      Action: attach,
      Resource: [sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'), sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*')],
      Condition: condition,
    },
    // CloudFormation names the roles it creates STACK-LogicalId-suffix: every role of this stack.
    { Sid: 'NeverToThisStacksRoles', Effect: 'Deny', Action: attach, Resource: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-*') },
  ];
}

/** Where the stack is deployed, for the providers' ARNs: its first target's Region and account. */
const home = () => ({ partition: partitionOf(targets[0].region), region: targets[0].region, accountId: targets[0].accountId });

/**
 * The EventBridge rules of idpEvents: every identity provider's (functions/lib/idp/providers), each named after the
 * stack, retried for a day and then dead-lettered.
 */
function idpEventRules(prefix) {
  const dlq = { 'Fn::GetAtt': ['IdpEventsDeadLetterQueue', 'Arn'] };
  return eventRules(deployment, home()).map(({ name, pattern, eventBus }) => ({
    eventBridge: {
      name: `${prefix}-idp-${name}`,
      retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 185 },
      deadLetterQueueArn: dlq,
      ...(eventBus ? { eventBus } : {}),
      pattern,
    },
  }));
}

/** Versioned, encrypted, private; kept for the configured years, optionally under Object Lock. */
function archiveBucketProperties(archive, kmsKeyArn) {
  return {
    VersioningConfiguration: { Status: 'Enabled' },
    // SSE-KMS with the stack's key (CT.S3.PR.10); the bucket key keeps KMS requests to about one per object batch.
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKeyArn }, BucketKeyEnabled: true }],
    },
    // Object-level events (EventBridge, CT.S3.PR.11): an overwrite or deletion of an archived run can be watched for.
    NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    LifecycleConfiguration: {
      Rules: [
        {
          Id: 'archive-retention',
          Status: 'Enabled',
          Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: archive.transitionToGlacierAfterDays }],
          ExpirationInDays: archive.expireAfterDays,
          NoncurrentVersionExpiration: { NoncurrentDays: archive.expireAfterDays },
        },
      ],
    },
    ...(archive.objectLock
      ? {
          ObjectLockEnabled: true,
          ObjectLockConfiguration: {
            ObjectLockEnabled: 'Enabled',
            Rule: { DefaultRetention: { Mode: archive.objectLock.mode, Days: archive.objectLock.days } },
          },
        }
      : {}),
  };
}

/** One statement per kind of target, so instance actions never apply to clusters and vice versa. */
function rdsStatements(actions) {
  return ['instance', 'cluster']
    .map((kind) => ({ kind, arns: unique(targets.filter((t) => t.kind === kind).map(rdsArn)) }))
    .filter(({ arns }) => arns.length > 0)
    .map(({ kind, arns }) => ({ Effect: 'Allow', Action: [actions[kind]], Resource: arns }));
}

/** How the database functions obtain admin credentials: read the master secret, or connect as the IAM admin. */
function adminAccessStatements() {
  const secretArns = unique(targets.filter((t) => t.admin.method === 'secret').map((t) => t.admin.secretArn));
  // The resource id (db-.../cluster-...) is only known from RDS, so the admin user is pinned by name.
  const adminUsers = unique(
    targets.filter((t) => t.admin.method === 'iam').map((t) => `arn:${partitionOf(t.region)}:rds-db:${t.region}:${t.accountId}:dbuser:*/${t.admin.user}`),
  );
  return [
    ...(secretArns.length ? [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secretArns }] : []),
    ...(adminUsers.length ? [{ Effect: 'Allow', Action: ['rds-db:connect'], Resource: adminUsers }] : []),
  ];
}
