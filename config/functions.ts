/**
 * The stack's functions, once. serverless.yml's functions and their roles (config/stack.js builds both from this list),
 * the local stack (dev/functions.ts) and the template test (test/integration/template.test.ts, which holds the packaged
 * template to it) all read it: adding a function is an entry here and its handler file (README "Adding a function").
 *
 * Each entry is what a reviewer needs to judge the function: its handler, what invokes it, its concurrency and
 * timeout, and its least-privilege statements. What every function has is added by config/stack.js and not written
 * here: the statements for its own log group and X-Ray (first in its first policy), Lambda's VPC network interfaces
 * for a database function, TARGETS_CONFIG and GRANT_LOCK_TABLE, the bundle's package patterns, its encrypted log group.
 */

/** A CloudFormation value: a literal, or an intrinsic (Ref, Fn::GetAtt, Fn::Sub). */
export type CfnValue = string | number | boolean | { [key: string]: CfnValue } | CfnValue[];

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: CfnValue;
  Condition?: Record<string, Record<string, CfnValue>>;
}

/** What the statements and events take from the deployment: the targets file and the stage (config/stack.js). */
export interface StackParts {
  /** `rds-iam-access-STAGE`: the state machines', rules' and functions' names start with it. */
  prefix: string;
  /** rds:DescribeDB* on exactly the configured instances and clusters (every step reads its target from RDS). */
  describeTargets: Statement[];
  /** rds:ModifyDB* on exactly the configured instances and clusters. */
  modifyTargets: Statement[];
  /** The configured admin secrets, or rds-db:connect as the configured IAM admin users. */
  adminCredentials: Statement[];
  /** Attach only this project's policies, never to this stack's roles, only to grantable principals (iam.grantablePrincipals). */
  grantAttach: Statement[];
  /** Reading the configured identity providers' directories (identity store, Okta's API token). */
  identityProviders: Statement[];
  /** Whether the scheduled reconcile may remove dangling grants (operations.reconcile.repair.removeDanglingGrants). */
  repairsGrants: boolean;
  /** The EventBridge rules of the identity providers (their event patterns). */
  idpEventRules: CfnValue[];
  reconcile: { schedule: string; enabled: boolean };
}

export interface TransientRetry {
  IntervalSeconds: number;
  MaxAttempts: number;
  MaxDelaySeconds: number;
}
export const DEFAULT_TRANSIENT_RETRY: TransientRetry = { IntervalSeconds: 2, MaxAttempts: 6, MaxDelaySeconds: 60 };
/** A database step: a lost connection or a restart takes longer than a throttled API call. */
const DATABASE_RETRY: TransientRetry = { IntervalSeconds: 2, MaxAttempts: 10, MaxDelaySeconds: 60 };
/** A grant step's IAM writes are paced: many callers at once wait longer for their turn. */
const IAM_WRITE_RETRY: TransientRetry = { IntervalSeconds: 2, MaxAttempts: 20, MaxDelaySeconds: 60 };

export interface FunctionSpec {
  /** The handler module (without .ts); serverless.yml names its `handler` export, or `queueHandler` for a limiter. */
  file: string;
  description: string;
  /** Opens PostgreSQL connections: runs in the VPC with the admin credentials, reserved concurrency dbConcurrency. */
  database?: true;
  /**
   * A limiter: the state machine sends the step's input to this queue and the queue's event source mapping runs the
   * function, at most `slots` at a time (the mapping's maximum and the reserved concurrency: nothing else takes a slot).
   */
  queue?: { id: string; slots: 'dbConcurrency' | 'grantConcurrency' };
  /** Seconds (provider default: 30). */
  timeout?: number;
  /**
   * How its Task waits for a transient fault of its own work (functions/lib/core/errors.ts BACKOFF 'transient'):
   * default 2 s doubling to at most 60 s, 6 attempts. statemachines/*.asl.json write it out; a test derives it from here.
   */
  retry?: TransientRetry;
  /** Invoked asynchronously (EventBridge, a schedule): Lambda's retries, and where an event still failing goes. */
  async?: { maximumRetryAttempts: number; deadLetterQueue?: string };
  /** A function of the stack's parts when it names a resource by name (a state machine: a reference would be a cycle). */
  environment?: Record<string, CfnValue> | ((s: StackParts) => Record<string, CfnValue>);
  /** serverless.yml events, besides a limiter's queue. */
  events?: (s: StackParts) => CfnValue[];
  /** Inline policies of the function's role, by name. */
  policies: (s: StackParts) => Record<string, Statement[]>;
}

const sub = (s: string): CfnValue => ({ 'Fn::Sub': s });
const arn = (id: string): CfnValue => ({ 'Fn::GetAtt': [id, 'Arn'] });
const ref = (id: string): CfnValue => ({ Ref: id });
const allow = (Action: string[], Resource: CfnValue, more: Omit<Statement, 'Effect' | 'Action' | 'Resource'> = {}): Statement => ({
  ...(more.Sid ? { Sid: more.Sid } : {}),
  Effect: 'Allow',
  Action,
  Resource,
  ...(more.Condition ? { Condition: more.Condition } : {}),
});

const ROLES = sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*');
const USERS = sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*');
const OWN_POLICIES = sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/rds-iam-access/*');
const MACHINES = ['OnboardStateMachine', 'OffboardStateMachine'];
/** Executions of this stack's state machines, by reference (for roles the state machines do not reference back). */
const EXECUTIONS = MACHINES.map((m) => sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:\${${m}.Name}:*`));
const ARCHIVE = [sub('${ArchiveBucket.Arn}/executions/*'), sub('${ArchiveBucket.Arn}/index/*')];
const STATE_MACHINE_ENV = { ONBOARD_STATE_MACHINE_ARN: ref('OnboardStateMachine'), OFFBOARD_STATE_MACHINE_ARN: ref('OffboardStateMachine') };
const PLAN_FUNCTION_ENV = { DB_PLAN_FUNCTION: ref('DbUserPlanLambdaFunction') };

/**
 * Access requests under approval policies (functions/lib/access): their table, the approvers' topic, the schedules of
 * their starts and ends, and the activate and end state machines (by name: they reference these functions).
 */
const accessMachine = (s: StackParts, m: 'activate' | 'end'): CfnValue =>
  sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${s.prefix}-${m}`);
const ACCESS_TABLE = [arn('AccessRequestsTable'), sub('${AccessRequestsTable.Arn}/index/*')];
const accessEnvironment = (s: StackParts): Record<string, CfnValue> => ({
  ACCESS_REQUESTS_TABLE: ref('AccessRequestsTable'),
  APPROVER_TOPIC_ARN: ref('ApproverTopic'),
  ACCESS_SCHEDULE_GROUP: ref('AccessScheduleGroup'),
  SCHEDULER_ROLE_ARN: arn('AccessSchedulerRole'),
  ACTIVATE_STATE_MACHINE_ARN: accessMachine(s, 'activate'),
  END_STATE_MACHINE_ARN: accessMachine(s, 'end'),
});
const readAccessRequests = allow(['dynamodb:GetItem', 'dynamodb:Query'], ACCESS_TABLE, { Sid: 'ReadAccessRequests' });
/** What a lifecycle change does besides its conditional write: publish it, schedule what follows, start it. */
const writeAccessRequests = allow(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], ACCESS_TABLE, { Sid: 'AccessRequests' });
const startAccessRuns = (s: StackParts): Statement =>
  allow(['states:StartExecution'], [accessMachine(s, 'activate'), accessMachine(s, 'end')], { Sid: 'StartActivationsAndEnds' });
const accessLifecycle = (s: StackParts): Statement[] => [
  writeAccessRequests,
  allow(['events:PutEvents'], sub('arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default'), {
    Sid: 'PublishLifecycleEvents',
    Condition: { StringEquals: { 'events:source': 'rds-iam-access' } },
  }),
  allow(['sns:Publish'], ref('ApproverTopic'), { Sid: 'NotifyApprovers' }),
  allow(
    ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule'],
    sub('arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${AccessScheduleGroup}/*'),
    {
      Sid: 'ScheduleStartsAndEnds',
    },
  ),
  allow(['iam:PassRole'], arn('AccessSchedulerRole'), {
    Sid: 'SchedulesStartExecutions',
    Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
  }),
  startAccessRuns(s),
];
/** Removing this project's statement from a principal's grant policies (the revoke step's and the end's). */
const removeGrantStatements = (): Statement[] => [
  readPrincipalPolicies(),
  findGrantHolders(),
  allow(
    ['iam:GetPolicy', 'iam:GetPolicyVersion', 'iam:ListPolicyVersions', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion', 'iam:DeletePolicy'],
    OWN_POLICIES,
    { Sid: 'OwnGrantPoliciesOnly' },
  ),
  allow(['iam:DetachRolePolicy', 'iam:DetachUserPolicy'], [ROLES, USERS], {
    Sid: 'DetachOwnGrantPoliciesOnly',
    Condition: { ArnLike: { 'iam:PolicyARN': OWN_POLICIES } },
  }),
  principalLock,
];

/** The RoleId / UserId of a principal (a re-created role gets a new one). */
const principalUniqueId = (prefix = ''): Statement[] => [
  allow(['iam:GetRole'], ROLES, { Sid: `${prefix}PrincipalUniqueId` }),
  allow(['iam:GetUser'], USERS, { Sid: `${prefix}PrincipalUniqueIdUser` }),
];
const readPrincipalPolicies = (Sid = 'ReadPrincipalPolicies'): Statement =>
  allow(['iam:ListAttachedRolePolicies', 'iam:ListAttachedUserPolicies'], [ROLES, USERS], { Sid });
// ListPolicies has no resource-level permissions; the code asks only for path /rds-iam-access/.
const findGrantHolders = (Sid = 'FindGrantHolders'): Statement => allow(['iam:ListPolicies'], '*', { Sid });
/** How the grant step writes a principal's grant policy (functions/lib/iam/grants.ts): on this project's policies only. */
export const GRANT_POLICY_ACTIONS = [
  'iam:GetPolicy',
  'iam:GetPolicyVersion',
  'iam:ListPolicyVersions',
  'iam:CreatePolicy',
  'iam:CreatePolicyVersion',
  'iam:DeletePolicyVersion',
  'iam:TagPolicy',
];
const principalLock = allow(['dynamodb:UpdateItem'], arn('GrantLocksTable'), { Sid: 'PrincipalLock' });

/**
 * functions/lib/workflows/db-user-lease.ts: onboarding and offboarding of one database user never interleave. The
 * holder is an execution; whether it still runs is asked of Step Functions, never assumed from time. By name, not by
 * reference: the state machines reference these functions, so a reference back would be a cycle.
 */
const lease = (s: StackParts): Statement[] => [
  allow(['dynamodb:UpdateItem'], arn('GrantLocksTable')),
  allow(
    ['states:DescribeExecution'],
    ['onboard', 'offboard'].map((m) => sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:${s.prefix}-${m}:*`)),
  ),
];

/** A limiter's queue: its event source mapping reads it with the function's role; the step answers its waiting state. */
const limiterQueue = (s: StackParts, queue: string): Statement[] => [
  allow(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], arn(queue)),
  allow(
    ['states:SendTaskHeartbeat', 'states:SendTaskSuccess', 'states:SendTaskFailure'],
    sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${s.prefix}-onboard`),
  ),
];

/** A function in the VPC that changes a database user: its credentials, its target, and the user's lease. */
const databaseStep = (s: StackParts, own: Record<string, Statement[]>): Record<string, Statement[]> => ({
  ...own,
  'admin-credentials': s.adminCredentials,
  'describe-targets': s.describeTargets,
  'db-user-lease': lease(s),
});

export const FUNCTIONS: Record<string, FunctionSpec> = {
  onboardValidate: {
    file: 'functions/onboard-validate',
    description: 'Onboarding step 1 - validate the request against the target configuration',
    // The principal's unique id, recorded with the database user.
    policies: () => ({ logs: principalUniqueId() }),
  },
  targetDescribe: {
    file: 'functions/target-describe',
    description: 'Describe an RDS instance or Aurora cluster (resource id, endpoint, IAM auth)',
    policies: (s) => ({ 'describe-targets': [], 'describe-targets-rds': s.describeTargets }),
  },
  iamAuthEnable: {
    file: 'functions/iam-auth-enable',
    // A modification in progress (TargetBusy) lasts minutes.
    retry: { IntervalSeconds: 30, MaxAttempts: 10, MaxDelaySeconds: 300 },
    description: 'Turn IAM database authentication on for an instance or cluster',
    policies: (s) => ({ 'enable-iam-auth': [], 'enable-iam-auth-rds': s.modifyTargets }),
  },
  // The database limiter (docs/design.md "Connections and concurrency"): CreateDbUser's input waits in DbUserCreateQueue
  // and this function takes it from there, at most dbConcurrency at a time, and answers the state with its task token.
  dbUserCreate: {
    file: 'functions/db-user-create',
    retry: DATABASE_RETRY,
    description: "Create the IAM-authenticated PostgreSQL user (in the VPC), taken from the limiter's queue",
    database: true,
    queue: { id: 'DbUserCreateQueue', slots: 'dbConcurrency' },
    policies: (s) => databaseStep(s, { 'create-db-user': [], 'limiter-queue': limiterQueue(s, 'DbUserCreateQueue') }),
  },
  // The IAM limiter (docs/design.md "IAM's rate"): AllowConnect's input waits in ConnectAllowQueue and this function
  // takes it from there, at most iam.grantConcurrency at a time, each pacing its IAM writes at its share of
  // iam.writesPerSecond.
  connectAllow: {
    file: 'functions/connect-allow',
    retry: IAM_WRITE_RETRY,
    description: "Grant rds-db:connect on one database user to an IAM principal, taken from the IAM limiter's queue",
    queue: { id: 'ConnectAllowQueue', slots: 'grantConcurrency' },
    policies: (s) => ({
      'grant-connect': [
        // Checks the unique id the database user was recorded with before granting.
        ...principalUniqueId(),
        readPrincipalPolicies(),
        allow(GRANT_POLICY_ACTIONS, OWN_POLICIES, { Sid: 'OwnGrantPoliciesOnly' }),
        principalLock,
      ],
      'attach-grant-policies': s.grantAttach,
      'limiter-queue': limiterQueue(s, 'ConnectAllowQueue'),
      'describe-targets': s.describeTargets,
      'db-user-lease': lease(s),
    }),
  },
  dbUserCompensate: {
    file: 'functions/db-user-compensate',
    retry: DATABASE_RETRY,
    description: 'Roll back a database user created by a failed onboarding (in the VPC)',
    database: true,
    policies: (s) => databaseStep(s, { 'compensate-db-user': [] }),
  },

  offboardValidate: {
    file: 'functions/offboard-validate',
    description: 'Offboarding step 1 - validate the request against the target configuration',
    policies: () => ({ logs: [] }),
  },
  dbUserDeactivate: {
    file: 'functions/db-user-deactivate',
    retry: DATABASE_RETRY,
    description: 'Block login (NOLOGIN) and end the sessions of a database user (in the VPC)',
    database: true,
    policies: (s) => databaseStep(s, { 'deactivate-db-user': [] }),
  },
  connectRevoke: {
    file: 'functions/connect-revoke',
    retry: IAM_WRITE_RETRY,
    description: "Remove rds-db:connect on one database user from the project's policies",
    policies: (s) => ({
      'revoke-connect': removeGrantStatements(),
      'describe-targets': s.describeTargets,
      'db-user-lease': lease(s),
    }),
  },
  dbUserRetire: {
    file: 'functions/db-user-retire',
    retry: DATABASE_RETRY,
    description: 'Reassign everything a database user owns to the successor, then drop the user (in the VPC)',
    database: true,
    timeout: 300,
    policies: (s) => databaseStep(s, { 'retire-db-user': [] }),
  },

  // The API (README "HTTP API"). Dry runs read RDS and IAM here and the database through dbUserPlan.
  api: {
    file: 'functions/api',
    description: 'HTTP API - access requests, revocations and their status (IAM authorization)',
    timeout: 29, // API Gateway answers 503 after 30 s
    environment: (s) => ({
      ...STATE_MACHINE_ENV,
      ...PLAN_FUNCTION_ENV,
      ARCHIVE_BUCKET: ref('ArchiveBucket'),
      ACCESS_REQUESTS_TABLE: ref('AccessRequestsTable'),
      ACTIVATE_STATE_MACHINE_ARN: accessMachine(s, 'activate'),
      END_STATE_MACHINE_ARN: accessMachine(s, 'end'),
      ACCESS_RECORD_FUNCTION: ref('AccessRecordLambdaFunction'),
    }),
    events: () =>
      [
        ['POST', '/access-requests'],
        ['GET', '/access-requests'],
        ['GET', '/access-requests/{requestId}'],
        ['POST', '/access-requests/{requestId}/approve'],
        ['POST', '/access-requests/{requestId}/deny'],
        ['POST', '/access-requests/{requestId}/cancel'],
        ['POST', '/access-requests/{requestId}/revoke'],
        ['POST', '/access-requests/{requestId}/extend'],
        ['GET', '/approvals'],
        ['POST', '/revocations'],
        ['GET', '/requests/{requestId}'],
        ['POST', '/requests/{requestId}/retry'],
        ['GET', '/audit'],
        ['GET', '/audit/{requestId}'],
        ['GET', '/grants'],
      ].map(([method, path]) => ({ httpApi: { method, path, authorizer: { type: 'aws_iam' } } })),
    policies: (s) => ({
      api: [
        allow(['states:StartExecution'], MACHINES.map(ref), { Sid: 'StartRequests' }),
        allow(['states:DescribeExecution', 'states:GetExecutionHistory'], EXECUTIONS, { Sid: 'ReadRequests' }),
        allow(['s3:GetObject'], ARCHIVE, { Sid: 'ReadArchive' }),
        // Also what makes S3 answer NoSuchKey (not AccessDenied) for a run that was never archived.
        allow(['s3:ListBucket'], arn('ArchiveBucket'), { Sid: 'ListArchive' }),
        allow(['states:ListExecutions'], MACHINES.map(ref), { Sid: 'ListRunningRequests' }),
        allow(['lambda:InvokeFunction'], arn('DbUserPlanLambdaFunction'), { Sid: 'PlanInTheDatabase' }),
        readPrincipalPolicies('PlanReadPrincipalPolicies'),
        ...principalUniqueId('Plan'),
        findGrantHolders('PlanFindGrantHolders'),
        allow(['iam:GetPolicy', 'iam:GetPolicyVersion', 'iam:ListEntitiesForPolicy'], OWN_POLICIES, { Sid: 'PlanReadOwnGrantPolicies' }),
      ],
      'api-describe-targets': s.describeTargets,
      // Approvals, denials, cancels and revokes; the winner of an approval starts the activation, a revoke's the end.
      'api-access-requests': [
        writeAccessRequests,
        startAccessRuns(s),
        // What the API decides (pending, denied, cancelled) is published by accessRecord, invoked asynchronously.
        allow(['lambda:InvokeFunction'], arn('AccessRecordLambdaFunction'), { Sid: 'PublishDecisions' }),
      ],
    }),
  },
  dbUserPlan: {
    file: 'functions/db-user-plan',
    description: 'Read-only database work for the API - dry runs and the access review (in the VPC)',
    database: true,
    timeout: 20, // answers the api function (29 s) in time
    policies: (s) => ({ 'plan-db-user': [], 'admin-credentials': s.adminCredentials, 'describe-targets': s.describeTargets }),
  },

  // Audits outlive Step Functions' 90 days: every ended execution is archived to S3.
  executionArchive: {
    file: 'functions/execution-archive',
    description: 'Archive the full history of an ended execution to the archive bucket',
    // A run the function fails to archive (after Lambda's retries) goes to the dead-letter queue.
    async: { maximumRetryAttempts: 2, deadLetterQueue: 'ArchiveDeadLetterQueue' },
    environment: { ...STATE_MACHINE_ENV, ARCHIVE_BUCKET: ref('ArchiveBucket') },
    events: (s) => [
      {
        eventBridge: {
          name: `${s.prefix}-archive-executions`,
          pattern: {
            source: ['aws.states'],
            'detail-type': ['Step Functions Execution Status Change'],
            detail: { status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: MACHINES.map(ref) },
          },
          retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 185 },
          deadLetterQueueArn: arn('ArchiveDeadLetterQueue'),
        },
      },
    ],
    policies: () => ({
      'archive-executions': [
        allow(['states:DescribeExecution', 'states:GetExecutionHistory'], EXECUTIONS, { Sid: 'ReadEndedExecutions' }),
        allow(['s3:PutObject'], ARCHIVE, { Sid: 'WriteArchiveOnly' }),
        allow(['sqs:SendMessage'], arn('ArchiveDeadLetterQueue'), { Sid: 'FailedArchivesToDeadLetterQueue' }),
      ],
    }),
  },

  // Identity-provider events (EventBridge) become the same executions as API requests.
  idpEvents: {
    file: 'functions/idp-events',
    description: 'Identity-provider events to onboarding and offboarding executions',
    // A reconcile of the whole mapping starts one execution per change at idp.startsPerSecond (10,000 people: 100 s).
    timeout: 900,
    // A malformed event fails with its reason; after Lambda's retries it goes to the dead-letter queue.
    async: { maximumRetryAttempts: 2, deadLetterQueue: 'IdpEventsDeadLetterQueue' },
    environment: (s) => ({
      ...STATE_MACHINE_ENV,
      ...PLAN_FUNCTION_ENV,
      ACCESS_REQUESTS_TABLE: ref('AccessRequestsTable'),
      END_STATE_MACHINE_ARN: accessMachine(s, 'end'),
    }),
    events: (s) => s.idpEventRules,
    policies: (s) => ({
      'idp-events': [
        allow(['states:StartExecution'], MACHINES.map(ref), { Sid: 'StartRequests' }),
        allow(['states:DescribeExecution'], EXECUTIONS, { Sid: 'ReadRequests' }),
        // A deleted principal's users are found by their records in the database; IAM says only whether a principal of
        // that name exists again, and its unique id.
        allow(['iam:GetRole'], ROLES, { Sid: 'PrincipalExistsNow' }),
        allow(['iam:GetUser'], USERS, { Sid: 'PrincipalExistsNowUser' }),
        // Which database users were created for whom: read-only, through the database function in the VPC.
        allow(['lambda:InvokeFunction'], arn('DbUserPlanLambdaFunction'), { Sid: 'ReadDatabaseUsers' }),
        allow(['sqs:SendMessage'], arn('IdpEventsDeadLetterQueue'), { Sid: 'FailedEventsToDeadLetterQueue' }),
        // functions/lib/idp/coalesce.ts: one reconcile of the whole mapping at a time, coordinated in the lock table.
        allow(['dynamodb:UpdateItem'], arn('GrantLocksTable'), {
          Sid: 'CoalesceReconciles',
          // Its own items only: the leases and principal locks in the same table are the steps'.
          Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['idp-reconcile:*'] } },
        }),
        ...s.identityProviders,
      ],
      'idp-events-describe-targets': s.describeTargets,
      // A removed person's access requests: cancelled, or their end started (functions/lib/access/identity.ts).
      'idp-events-access-requests': [writeAccessRequests, allow(['states:StartExecution'], accessMachine(s, 'end'), { Sid: 'EndRemovedPeoplesGrants' })],
    }),
  },

  // The scheduled reconcile (README "Operations"): the access review and drift check, archived under reviews/,
  // published to the alarm topic on drift; repair only toward less access, and only as configured.
  accessReconcile: {
    file: 'functions/access-reconcile',
    description: 'Scheduled access review - archive the report, publish drift, optionally remove dangling grants',
    timeout: 300,
    // A failed run is the ReconcileErrors alarm; one retry covers a passing fault without a flood of reports.
    async: { maximumRetryAttempts: 1 },
    environment: { ...PLAN_FUNCTION_ENV, ARCHIVE_BUCKET: ref('ArchiveBucket'), ALARM_TOPIC_ARN: ref('AlarmTopic') },
    events: (s) => [
      {
        schedule: {
          name: `${s.prefix}-reconcile`,
          description: 'The daily access review and drift check (operations.reconcile.schedule)',
          rate: [s.reconcile.schedule],
          enabled: s.reconcile.enabled,
        },
      },
    ],
    // Only with operations.reconcile.repair.removeDanglingGrants may it rewrite the project's grant policies, and then
    // only with the actions a removal uses (the revoke step's, never CreatePolicy or an attachment).
    policies: (s) => ({
      'access-reconcile': [
        findGrantHolders('FindGrantPolicies'),
        allow(['iam:GetPolicy', 'iam:GetPolicyVersion', 'iam:ListEntitiesForPolicy'], OWN_POLICIES, { Sid: 'ReadOwnGrantPolicies' }),
        allow(['lambda:InvokeFunction'], arn('DbUserPlanLambdaFunction'), { Sid: 'ReadDatabaseUsers' }),
        allow(['s3:PutObject'], sub('${ArchiveBucket.Arn}/reviews/*'), { Sid: 'ArchiveReports' }),
        allow(['sns:Publish'], ref('AlarmTopic'), { Sid: 'NotifyDrift' }),
      ],
      'access-reconcile-describe-targets': s.describeTargets,
      ...(s.repairsGrants
        ? {
            'access-reconcile-repair': [
              readPrincipalPolicies(),
              allow(['iam:ListPolicyVersions', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion', 'iam:DeletePolicy'], OWN_POLICIES, {
                Sid: 'RemoveFromOwnGrantPoliciesOnly',
              }),
              allow(['iam:DetachRolePolicy', 'iam:DetachUserPolicy'], [ROLES, USERS], {
                Sid: 'DetachOwnGrantPoliciesOnly',
                Condition: { ArnLike: { 'iam:PolicyARN': OWN_POLICIES } },
              }),
              principalLock,
            ],
          }
        : {}),
    }),
  },

  // Access requests under approval policies (README "Access requests"): the activate and end state machines' steps.
  accessRecord: {
    file: 'functions/access-record',
    description: 'Access requests - every lifecycle write of an activation or an end (conditional), its schedules and events',
    environment: accessEnvironment,
    policies: (s) => ({ 'access-record': accessLifecycle(s) }),
  },
  dbGrantEnd: {
    file: 'functions/db-grant-end',
    retry: DATABASE_RETRY,
    description: 'End of an access request in the database - revoke what no other grant covers, end every session (in the VPC)',
    database: true,
    environment: { ACCESS_REQUESTS_TABLE: ref('AccessRequestsTable') },
    // No database-user lease: the end locks the role in PostgreSQL (lockProjectKey) and plans against the store.
    policies: (s) => ({ 'grant-end': [readAccessRequests], 'admin-credentials': s.adminCredentials, 'describe-targets': s.describeTargets }),
  },
  connectEnd: {
    file: 'functions/connect-end',
    retry: IAM_WRITE_RETRY,
    description: "End of an access request in IAM - remove the statement when nothing else needs it, then ask IAM's simulator",
    environment: { ACCESS_REQUESTS_TABLE: ref('AccessRequestsTable') },
    policies: (s) => ({
      'connect-end': [
        readAccessRequests,
        ...removeGrantStatements(),
        // The proof: IAM's own evaluation of the principal's policies, whoever wrote them.
        allow(['iam:SimulatePrincipalPolicy'], [ROLES, USERS], { Sid: 'ProveConnectGone' }),
      ],
      'describe-targets': s.describeTargets,
    }),
  },
  accessSweep: {
    file: 'functions/access-sweep',
    description: 'Access requests - end what a lost schedule missed, run failed ends again, expire stale approvals, remind',
    timeout: 120,
    async: { maximumRetryAttempts: 1 },
    environment: accessEnvironment,
    events: (s) => [{ schedule: { name: `${s.prefix}-access-sweep`, description: 'The access-request sweeper', rate: ['rate(5 minutes)'] } }],
    policies: (s) => ({ 'access-sweep': accessLifecycle(s) }),
  },
};

/** serverless' logical id stem of a function key (getNormalizedFunctionName): `dbUserCreate` -> `DbUserCreate`. */
export const normalizedName = (key: string): string => {
  const s = key.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return s.charAt(0).toUpperCase() + s.slice(1);
};
/** Each function's role: one of its own. */
export const roleOf = (key: string): string => `${normalizedName(key)}Role`;
export const logGroupOf = (key: string): string => `${normalizedName(key)}LogGroup`;
