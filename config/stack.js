/**
 * Read by serverless.yml at package/deploy time: loads the targets file named by TARGETS_FILE
 * (default: config/targets.example.json), validates it with the same schema the functions use,
 * and derives what the stack needs from it: the functions' TARGETS_CONFIG, their VPC, the
 * reserved concurrency, and the exact resources each role may touch.
 */
require('tsx/cjs');
const { resolve } = require('node:path');
const { loadConfigFile } = require('../functions/lib/core/config-file.ts');
const { ConfigurationError } = require('../functions/lib/core/errors.ts');

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

module.exports = ({ options } = {}) => ({
  targetsJson: JSON.stringify(runtime),
  dbConcurrency: config.dbConcurrency,
  // The limiter's slots: an SQS event source's MaximumConcurrency is 2 at least (dev/asl-runner.ts queueConcurrency).
  dbQueueConcurrency: Math.max(2, config.dbConcurrency),
  // The IAM limiter's slots (iam.grantConcurrency is 2 at least already).
  grantQueueConcurrency: config.iam.grantConcurrency,
  subnetIds: deployment.vpc.subnetIds,
  securityGroupIds: deployment.vpc.securityGroupIds,
  rdsDescribeStatements: rdsStatements({ instance: 'rds:DescribeDBInstances', cluster: 'rds:DescribeDBClusters' }),
  rdsModifyStatements: rdsStatements({ instance: 'rds:ModifyDBInstance', cluster: 'rds:ModifyDBCluster' }),
  adminAccessStatements: adminAccessStatements(),
  archiveBucketProperties: archiveBucketProperties(deployment.archive, encryption(deployment.kms, '').kmsKeyArn),
  idpEventRules: idpEventRules(`rds-iam-access-${options?.stage || 'dev'}`),
  idpEventsPolicies: idpEventsPolicies(),
  grantAttachStatements: grantAttachStatements(),
  // Operations (README "Operations"): the alarm e-mail, when and whether the reconcile runs, and its role.
  alarmEmail: config.operations.alarmEmail || '',
  reconcileSchedule: config.operations.reconcile.schedule,
  reconcileEnabled: config.operations.reconcile.enabled,
  reconcilePolicies: reconcilePolicies(),
  ...encryption(deployment.kms, `rds-iam-access-${options?.stage || 'dev'}`),
});

/**
 * The reconcile's role: read what the access review reads (RDS, the project's policies, the database through
 * dbUserPlan), write its report under reviews/ and publish to the alarm topic. Only with
 * operations.reconcile.repair.removeDanglingGrants may it also rewrite the project's grant policies, and then only
 * with the actions a removal uses (the revoke step's, never CreatePolicy or an attachment).
 */
function reconcilePolicies() {
  const sub = (s) => ({ 'Fn::Sub': s });
  const ownPolicies = sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/rds-iam-access/*');
  const principals = [sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'), sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*')];
  const review = [
    { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': ['AccessReconcileLogGroup', 'Arn'] } },
    TRACING,
    // ListPolicies has no resource-level permissions; the code asks only for path /rds-iam-access/.
    { Sid: 'FindGrantPolicies', Effect: 'Allow', Action: ['iam:ListPolicies'], Resource: '*' },
    { Sid: 'ReadOwnGrantPolicies', Effect: 'Allow', Action: ['iam:GetPolicy', 'iam:GetPolicyVersion', 'iam:ListEntitiesForPolicy'], Resource: ownPolicies },
    { Sid: 'ReadDatabaseUsers', Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: { 'Fn::GetAtt': ['DbUserPlanLambdaFunction', 'Arn'] } },
    { Sid: 'ArchiveReports', Effect: 'Allow', Action: ['s3:PutObject'], Resource: sub('${ArchiveBucket.Arn}/reviews/*') },
    { Sid: 'NotifyDrift', Effect: 'Allow', Action: ['sns:Publish'], Resource: { Ref: 'AlarmTopic' } },
  ];
  const repair = config.operations.reconcile.repair.removeDanglingGrants
    ? [
        {
          PolicyName: 'access-reconcile-repair',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Sid: 'ReadPrincipalPolicies', Effect: 'Allow', Action: ['iam:ListAttachedRolePolicies', 'iam:ListAttachedUserPolicies'], Resource: principals },
              {
                Sid: 'RemoveFromOwnGrantPoliciesOnly',
                Effect: 'Allow',
                Action: ['iam:ListPolicyVersions', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion', 'iam:DeletePolicy'],
                Resource: ownPolicies,
              },
              {
                Sid: 'DetachOwnGrantPoliciesOnly',
                Effect: 'Allow',
                Action: ['iam:DetachRolePolicy', 'iam:DetachUserPolicy'],
                Resource: principals,
                Condition: { ArnLike: { 'iam:PolicyARN': ownPolicies } },
              },
              { Sid: 'PrincipalLock', Effect: 'Allow', Action: ['dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': ['GrantLocksTable', 'Arn'] } },
            ],
          },
        },
      ]
    : [];
  return [
    { PolicyName: 'access-reconcile', PolicyDocument: { Version: '2012-10-17', Statement: review } },
    {
      PolicyName: 'access-reconcile-describe-targets',
      PolicyDocument: { Version: '2012-10-17', Statement: rdsStatements({ instance: 'rds:DescribeDBInstances', cluster: 'rds:DescribeDBClusters' }) },
    },
    ...repair,
  ];
}

/**
 * One KMS key for the archive bucket, the log groups, the dead-letter queues and the lock table: the configured
 * customer-managed key (deployment.kms.keyArn; its policy is the customer's, README "Encryption"), or a key this stack
 * creates. The created key's policy names exactly who uses it: CloudWatch Logs for this stack's log groups, EventBridge
 * for its rules' dead letters, and each function role for the one service it reaches the key through.
 */
function encryption(kms, prefix) {
  const created = !kms.keyArn;
  return {
    kmsKeyArn: created ? { 'Fn::GetAtt': ['EncryptionKey', 'Arn'] } : kms.keyArn,
    // A CloudFormation condition: the key resource exists only when no customer-managed key is configured.
    createsEncryptionKey: { 'Fn::Equals': [String(created), 'true'] },
    encryptionKeyPolicy: encryptionKeyPolicy(kms.readers, prefix),
    // The deployment bucket exists before any other resource (osls creates it first), so it cannot use a key the stack
    // creates: the customer's key, or S3's AWS-managed key.
    deploymentBucketEncryption: {
      ServerSideEncryptionConfiguration: [
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', ...(created ? {} : { KMSMasterKeyID: kms.keyArn }) }, BucketKeyEnabled: true },
      ],
    },
  };
}

/** Roles that reach the key, by service: CloudFormation names them STACK-LogicalId-suffix (see grantAttachStatements). */
const KEY_USERS = {
  s3Write: ['ExecutionArchiveRole', 'AccessReconcileRole'],
  s3Read: ['ApiRole'],
  // Senders: the dead letters of failing functions, and the onboarding state machine into the limiters' queues.
  sqs: ['ExecutionArchiveRole', 'IdpEventsRole', 'OnboardStateMachineRole'],
  // Receivers: the limiters' event source mappings read their queues with the functions' roles.
  sqsReceive: ['DbUserCreateRole', 'ConnectAllowRole'],
  dynamodb: ['DbUserCreateRole', 'DbUserCompensateRole', 'DbUserDeactivateRole', 'DbUserRetireRole', 'ConnectAllowRole', 'ConnectRevokeRole', 'IdpEventsRole'],
};

function encryptionKeyPolicy(readers, prefix) {
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
      use('ArchiveWriteByArchiveAndReconcile', KEY_USERS.s3Write, ['kms:GenerateDataKey'], 's3'),
      use('ArchiveReadByApi', KEY_USERS.s3Read, ['kms:Decrypt'], 's3'),
      use('QueueSenders', KEY_USERS.sqs, ['kms:GenerateDataKey', 'kms:Decrypt'], 'sqs'),
      use('QueueReceivers', KEY_USERS.sqsReceive, ['kms:Decrypt'], 'sqs'),
      use('LockTableByLeaseHolders', KEY_USERS.dynamodb, ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], 'dynamodb'),
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

/**
 * The EventBridge rules of idpEvents: Identity Center / Identity Store and IAM via CloudTrail on the
 * default bus (IAM's only in us-east-1), and Okta's partner event bus when one is configured.
 */
function idpEventRules(prefix) {
  const dlq = { 'Fn::GetAtt': ['IdpEventsDeadLetterQueue', 'Arn'] };
  const rule = (name, extra) => ({
    eventBridge: { name: `${prefix}-idp-${name}`, retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 185 }, deadLetterQueueArn: dlq, ...extra },
  });
  const cloudTrail = (source, eventNames) => ({ source, 'detail-type': ['AWS API Call via CloudTrail'], detail: { eventName: eventNames } });
  const okta = deployment.oktaEventBusName;
  // Okta's partner event bus exists once the partner event source is associated; the stack must never create (or,
  // on removal, delete) it. Given a bus *name*, osls creates an AWS::Events::EventBus; given an ARN it references
  // the bus, and uses only the part after "event-bus/" (the name) as the rule's EventBusName and in the rule ARN of
  // the Lambda permission (rule/BUS/RULE). Region and account here only make the string an ARN.
  const oktaBus = okta && `arn:${partitionOf(targets[0].region)}:events:${targets[0].region}:${targets[0].accountId}:event-bus/${okta}`;
  return [
    rule('identity-center', {
      pattern: cloudTrail(
        ['aws.sso-directory', 'aws.identitystore'],
        ['AddMemberToGroup', 'RemoveMemberFromGroup', 'DisableUser', 'DeleteUser', 'CreateGroupMembership', 'DeleteGroupMembership'],
      ),
    }),
    // Identity Store's own notifications ("User Deleted", ...): the mapping is reconciled.
    rule('identity-store-notifications', { pattern: { source: ['aws.identitystore'], 'detail-type': [{ prefix: 'User ' }, { prefix: 'Group Membership ' }] } }),
    rule('iam', { pattern: cloudTrail(['aws.iam'], ['DeleteRole', 'DeleteUser']) }),
    ...(okta
      ? [
          rule('okta', {
            eventBus: oktaBus,
            pattern: {
              source: [{ prefix: 'aws.partner/okta.com' }],
              detail: {
                eventType: ['group.user_membership.add', 'group.user_membership.remove', 'user.lifecycle.deactivate', 'user.lifecycle.delete.initiated'],
              },
            },
          }),
        ]
      : []),
  ];
}

/** The idpEvents role: start and read requests, look up principals of deleted ones' names, and read the identity store if one is configured. */
function idpEventsPolicies() {
  const sub = (s) => ({ 'Fn::Sub': s });
  const executions = ['OnboardStateMachine', 'OffboardStateMachine'].map((m) =>
    sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:\${${m}.Name}:*`),
  );
  const statements = [
    { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': ['IdpEventsLogGroup', 'Arn'] } },
    TRACING,
    { Sid: 'StartRequests', Effect: 'Allow', Action: ['states:StartExecution'], Resource: [{ Ref: 'OnboardStateMachine' }, { Ref: 'OffboardStateMachine' }] },
    { Sid: 'ReadRequests', Effect: 'Allow', Action: ['states:DescribeExecution'], Resource: executions },
    // A deleted principal's users are found by their records in the database; IAM says only whether a principal of that name exists again, and its unique id.
    { Sid: 'PrincipalExistsNow', Effect: 'Allow', Action: ['iam:GetRole'], Resource: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*') },
    { Sid: 'PrincipalExistsNowUser', Effect: 'Allow', Action: ['iam:GetUser'], Resource: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*') },
    // Which database users were created for whom: read-only, through the database function in the VPC.
    { Sid: 'ReadDatabaseUsers', Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: { 'Fn::GetAtt': ['DbUserPlanLambdaFunction', 'Arn'] } },
    { Sid: 'FailedEventsToDeadLetterQueue', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': ['IdpEventsDeadLetterQueue', 'Arn'] } },
    // functions/lib/idp/coalesce.ts: one reconcile of the whole mapping at a time, coordinated in the lock table.
    {
      Sid: 'CoalesceReconciles',
      Effect: 'Allow',
      Action: ['dynamodb:UpdateItem'],
      Resource: { 'Fn::GetAtt': ['GrantLocksTable', 'Arn'] },
      // Its own items only: the leases and principal locks in the same table are the steps'.
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['idp-reconcile:*'] } },
    },
    ...identityStoreStatements(),
  ];
  return [
    { PolicyName: 'idp-events', PolicyDocument: { Version: '2012-10-17', Statement: statements } },
    {
      PolicyName: 'idp-events-describe-targets',
      PolicyDocument: { Version: '2012-10-17', Statement: rdsStatements({ instance: 'rds:DescribeDBInstances', cluster: 'rds:DescribeDBClusters' }) },
    },
  ];
}

/** Reading people and their groups from the configured identity store and Okta API token, when there are. */
function identityStoreStatements() {
  const idp = config.idp;
  const okta = idp?.okta ? [{ Sid: 'ReadOktaApiToken', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: idp.okta.apiTokenSecretArn }] : [];
  if (!idp?.identityStoreId) return okta;
  const account = targets[0].accountId;
  const partition = partitionOf(idp.identityStoreRegion || targets[0].region);
  return [
    {
      Sid: 'ReadIdentityStore',
      Effect: 'Allow',
      Action: [
        'identitystore:DescribeUser',
        'identitystore:ListGroupMembershipsForMember',
        'identitystore:DescribeGroup',
        'identitystore:ListGroupMemberships',
        'identitystore:GetGroupId',
        'identitystore:ListUsers',
      ],
      Resource: [
        `arn:${partition}:identitystore::${account}:identitystore/${idp.identityStoreId}`,
        `arn:${partition}:identitystore:::user/*`,
        `arn:${partition}:identitystore:::group/*`,
        `arn:${partition}:identitystore:::membership/*`,
      ],
    },
    ...okta,
  ];
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
