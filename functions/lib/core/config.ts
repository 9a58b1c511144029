import * as z from 'zod';
import { IAM_TAG_KEY } from './arn';
import { configErrorMap, formatIssues } from './config-issues';
import { durationMs, parseDuration } from './durations';
import { ConfigurationError, ProvisioningError } from './errors';
import { protectedReason, protectedUnderPrefix } from './identifiers';
import { deploymentSettings, idpSettings } from '../idp/providers';

/** Placeholders a template may use: {userName} (Identity Center UserName, Okta login), {userNameLocalPart} (before @), {userId}. */
export const TEMPLATE_PLACEHOLDERS = ['userName', 'userNameLocalPart', 'userId'] as const;

/**
 * The schemas, built on the first parse instead of at import: constructing these zod schemas cost every cold start
 * of every function several milliseconds (issue 13). Each function needs them once, on its first loadConfig.
 */
const buildSchemas = () => {
  /**
   * The targets this deployment may manage, and how. Configuration, never request input:
   * a request names a target, and only what is configured here can be touched. Every object is a
   * z.strictObject: an unknown key is refused (with the known key it most likely meant), never dropped, so a
   * typo cannot fall back to a default (`"enabled": "never"` would leave iamAuth.enable at "immediately").
   */
  const identifierRegex = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
  const pgName = z.string().regex(identifierRegex, 'must be a plain PostgreSQL identifier (letters, digits, _ and $, at most 63)');

  const adminSchema = z.discriminatedUnion('method', [
    z.strictObject({
      /** The RDS-managed master user secret (or any secret of the same JSON shape). */
      method: z.literal('secret'),
      secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN'),
    }),
    z.strictObject({
      /** An admin database user that itself logs in with an IAM token. */
      method: z.literal('iam'),
      user: pgName,
    }),
  ]);

  const targetSchema = z.strictObject({
    kind: z.enum(['instance', 'cluster']),
    identifier: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be an RDS DB instance or cluster identifier'),
    region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'must be an AWS Region code'),
    accountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    allowedDbRoles: z.array(pgName).default([]),
    /**
     * Databases a request may ask CONNECT on. Default none: a request then gets no database-level grant, and its user
     * connects only where PUBLIC may. A database that revoked CONNECT from PUBLIC is reachable only when listed here.
     */
    allowedDatabases: z.array(pgName).default([]),
    admin: adminSchema,
    successorRole: pgName,
    /**
     * What offboarding does with the leaver's objects that would run with their new owner's rights or
     * expose its data (views, functions, rules, untrusted triggers...): by default they go to a
     * quarantine role that holds no privileges; `refuse` changes nothing and reports them instead.
     * Tables, sequences, schemas and the rows in them go to the successor either way.
     */
    reassignment: z
      .strictObject({
        unsafeObjects: z.enum(['quarantine', 'refuse']).default('quarantine'),
        /** NOLOGIN, no members, no privileges; created by this project when missing, never granted to anyone. */
        quarantineRole: pgName.default('iam_access_quarantine'),
      })
      .prefault({}),
    /** The database the admin connects to for cluster-wide work (roles are cluster-wide). */
    adminDatabase: pgName.default('postgres'),
    iamAuth: z
      .strictObject({
        /** How to turn IAM database authentication on when it is off. */
        enable: z.enum(['immediately', 'next-maintenance-window', 'never']).default('immediately'),
        pollSeconds: z.number().int().min(5).max(3600).default(30),
        maxPolls: z.number().int().min(1).max(10000).default(60),
      })
      .prefault({}),
    /** Only for local mode and tests: a Lambda-hosted function refuses to run with TLS off. */
    tls: z.enum(['verify-full', 'disable']).default('verify-full'),
    /** Extra role names that must never be managed on this target, besides the built-in ones. */
    protectedRoles: z.array(z.string()).default([]),
  });

  const template = z.string().refine((t) => [...t.matchAll(/\{([^}]*)\}/g)].every((m) => (TEMPLATE_PLACEHOLDERS as readonly string[]).includes(m[1])), {
    message: `may use only the placeholders ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
  });

  /** Identity-provider events: which groups give which access, and how a person becomes a principal and a database user. */
  const idpSchema = z.strictObject({
    /** Keyed by the group's id or its name, as the provider reports them (Identity Center: the group id; Okta: id or name). */
    groups: z.record(
      z.string().min(1),
      z.strictObject({
        targets: z.array(z.string()).min(1, 'name at least one target'),
        dbRoles: z.array(pgName).default([]),
        databases: z.array(pgName).default([]),
      }),
    ),
    principal: z.discriminatedUnion('kind', [
      /** Each person has an IAM role or user of their own: its ARN from a template. */
      z.strictObject({ kind: z.literal('per-person'), arnTemplate: template }),
      /**
       * People reach AWS through one shared role (an Identity Center permission set): its policy names the
       * database user by a session tag the identity provider sets per person (attributes for access control).
       */
      z.strictObject({
        kind: z.literal('shared'),
        roleArn: z.string(),
        tagKey: z.string().regex(IAM_TAG_KEY, 'must be an IAM tag key').default('db_user'),
        /**
         * The literal start of every database user made for the role's members: the statement is
         * `dbuser:RESOURCE_ID/PREFIX${aws:PrincipalTag/KEY}`, so whatever a tag says, a member reaches only
         * names under it. Reserved: nothing else may create database users named so.
         */
        dbUserPrefix: z
          .string({
            error:
              'is required for a shared role: the literal start of the database users made for its members (e.g. "sso_"), which dbUserTemplate must start with',
          })
          .regex(
            /^[A-Za-z_][A-Za-z0-9_.@+=-]{0,31}$/,
            'must be 1-32 characters of letters, digits and _ . @ + = -, starting with a letter or _ (no IAM wildcard or variable)',
          ),
      }),
    ]),
    dbUserTemplate: template.default('{userName}'),
    // Each identity provider's own fields (functions/lib/idp/providers: Identity Center's store, Okta's API).
    ...idpSettings(),
    /**
     * Executions one identity event (a reconcile of the whole mapping) starts per second. Step Functions refills
     * StartExecution at 150/s in most Regions (300/s in the largest) for the whole account: 100 leaves room for the API.
     */
    startsPerSecond: z.number().positive().max(300).default(100),
  });

  /**
   * A pattern of callers (api.admins, api.auditors). Partition and account are literal: `*` there would
   * make a role of that name in any account (anyone's, an attacker's) an administrator. `*` is allowed in
   * the resource part only.
   */
  const callerPattern = z
    .string()
    .regex(
      /^arn:(aws|aws-cn|aws-us-gov):(iam|sts)::\d{12}:[^\s]+$/,
      'must be an IAM or STS ARN with a literal partition (aws, aws-cn, aws-us-gov) and 12-digit account, ' +
        'e.g. arn:aws:iam::123456789012:role/platform-admin; * is allowed only after the account ' +
        '(role/team-*)',
    );

  /** An ISO 8601 duration (core/durations.ts): weeks, days, hours, minutes, seconds; never years or months. */
  const duration = z.string().superRefine((v, ctx) => {
    const d = parseDuration(v);
    if ('problem' in d) ctx.addIssue({ code: 'custom', message: d.problem, input: v });
  });

  /** A JavaScript regular expression, checked to compile here rather than when the first request is read. */
  const regexSource = z
    .string()
    .max(500)
    .superRefine((v, ctx) => {
      try {
        new RegExp(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `is not a valid regular expression (${(e as Error).message})`, input: v });
      }
    });

  /**
   * Who must agree before a request gets access, and for how long it may last (docs/design.md "Access requests").
   * A request no policy matches is granted at once and until revoked, as before policies existed.
   */
  const approvalPolicySchema = z.strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lower-case letters, digits and -, starting with a letter or digit'),
    /** The requests it governs: on one of these targets, asking for one of these roles (no dbRoles: any request there). */
    match: z.strictObject({
      targets: z.array(z.string()).min(1, 'name at least one target'),
      dbRoles: z.array(pgName).min(1, 'name at least one role, or leave dbRoles out to match every request on the targets').optional(),
    }),
    /** Callers who may decide: IAM or STS ARN patterns as api.admins takes them. */
    approvers: z.array(callerPattern).default([]),
    /** IAM Identity Center groups whose members may decide, by group id. */
    approverGroups: z
      .array(
        z
          .string()
          .regex(
            /^([0-9a-f]{10}-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
            'must be an IAM Identity Center group id (a UUID, or the 10-hex-digit store prefix, -, and a UUID)',
          ),
      )
      .default([]),
    /** Approvals of distinct approvers that approve the request. */
    required: z.number().int().min(1).max(10).default(1),
    /** Denials that deny it; default 1 (one denial is enough). */
    denyThreshold: z.number().int().min(1).max(10).default(1),
    /** How long a request waits for its approvals: an absolute deadline from its creation, never extended. */
    pendingTtl: duration.default('PT4H'),
    defaultDuration: duration.default('PT1H'),
    maxDuration: duration.default('PT8H'),
    /** The cap of one grant with all its extensions (default: maxDuration, i.e. no extension beyond it). */
    maxTotalDuration: duration.optional(),
    reason: z
      .strictObject({
        required: z.boolean().default(false),
        /** The reason must match it (e.g. a ticket reference, ^(INC|CHG)-[0-9]+). */
        pattern: regexSource.optional(),
      })
      .prefault({}),
    /** Requests this short are approved at once, by nobody (read roles on a development target, say). */
    autoApprove: z.strictObject({ maxDuration: duration }).optional(),
  });

  /** An address SNS can deliver e-mail to: one @, no spaces, a dotted domain. */
  const EMAIL = /^[^\s@]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
  /**
   * An EventBridge schedule at most hourly (each review lists every grant policy in IAM): `rate(N hour[s]|day[s])`, or
   * `cron(M H DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)` whose minute is one number.
   */
  const SCHEDULE = /^(rate\((1 (hour|day)|([2-9]|[1-9]\d+) (hours|days))\)|cron\(([0-5]?\d) \S+ \S+ \S+ \S+ \S+\))$/;

  /** Alarms, the scheduled access review and what it may repair (README "Operations"). Unknown keys are refused. */
  const operationsSchema = z.strictObject({
    /** Subscribed to the alarm topic by the stack (SNS asks the address to confirm); without it, subscribe yourself. */
    alarmEmail: z.string().regex(EMAIL, 'must be one e-mail address, e.g. platform-team@example.com').optional(),
    reconcile: z
      .strictObject({
        /** When the access review runs; default daily at 05:00 UTC. */
        schedule: z
          .string()
          .regex(
            SCHEDULE,
            'must be an EventBridge schedule at most hourly: rate(1 day), rate(6 hours), or cron(M H DOM MON DOW YEAR) with one minute, e.g. cron(0 5 * * ? *)',
          )
          .default('cron(0 5 * * ? *)'),
        enabled: z.boolean().default(true),
        /** Repair only ever removes access; each kind is off unless set to true here. */
        repair: z
          .strictObject({
            /** Remove a project grant whose database user no longer exists (left by a failed or interrupted offboarding). */
            removeDanglingGrants: z.boolean().default(false),
          })
          .prefault({}),
      })
      .prefault({}),
  });

  const configSchema = z.strictObject({
    targets: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'target names are lower-case letters, digits and -'), targetSchema),
    iam: z
      .strictObject({
        /** IAM's quota of managed policies attached to one role or user (10 unless raised). */
        attachedPoliciesQuota: z.number().int().min(1).max(20).default(10),
        /** At most this many of those may be this project's grant policies. */
        maxGrantPoliciesPerPrincipal: z.number().int().min(1).max(20).default(4),
        /**
         * IAM's mutating calls (CreatePolicy, CreatePolicyVersion, AttachRolePolicy, ...) the grant steps make per second,
         * all of them together: AWS throttles them per account and does not publish the limit, so stay below what the
         * account sees (other tools share it). A burst of onboardings then waits in ConnectAllowQueue instead of throttling.
         */
        writesPerSecond: z.number().positive().max(100).default(10),
        /**
         * Grant steps at once (ConnectAllowQueue's slots; an SQS event source runs 2 at least); each paces its writes at
         * writesPerSecond / grantConcurrency.
         */
        grantConcurrency: z.number().int().min(2).max(50).default(2),
        /**
         * Narrows which principals the grant function may attach policies to, enforced by IAM conditions on its role
         * (and checked when a request is validated): principals carrying this tag, and/or whose permissions boundary
         * is this managed policy. Unset: any role or user of the account except this stack's own roles.
         */
        grantablePrincipals: z
          .strictObject({
            tag: z.strictObject({ key: z.string().regex(IAM_TAG_KEY, 'must be an IAM tag key'), value: z.string().min(1).max(256) }).optional(),
            permissionsBoundaryArn: z
              .string()
              .regex(/^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]+$/, 'must be the ARN of a managed policy (arn:PARTITION:iam::ACCOUNT:policy/NAME)')
              .optional(),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Who may ask the API for what (see README, "Who may ask for what"). */
    api: z
      .strictObject({
        /** Callers that may request and revoke access for any principal: ARNs, `*` matching any characters. */
        admins: z.array(callerPattern).default([]),
        /** Callers that may read the audit trail (/audit) and the access review (/grants); administrators may too. */
        auditors: z.array(callerPattern).default([]),
        /** Whether other callers may request and revoke access for their own principal. */
        selfService: z.boolean().default(true),
      })
      .prefault({}),
    idp: idpSchema.optional(),
    /** Reviewed, time-bound access (docs/design.md "Access requests"); checked in order, see access/policies.ts. */
    approvalPolicies: z.array(approvalPolicySchema).default([]),
    /** Reserved concurrency of each function that opens database connections. */
    dbConcurrency: z.number().int().min(1).max(1000).default(10),
    /** Read by serverless.yml at package time only (not passed to the functions). */
    deployment: z
      .strictObject({
        vpc: z.strictObject({
          subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'must be a subnet id')).min(1),
          securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id')).min(1),
        }),
        // Each identity provider's own fields (functions/lib/idp/providers: Okta's partner event bus).
        ...deploymentSettings(),
        /** The execution archive bucket (audits outlive Step Functions' 90 days of history). */
        archive: z
          .strictObject({
            /** Archived executions move to S3 Glacier Instant Retrieval (still readable at once by /audit) after this many days. */
            transitionToGlacierAfterDays: z.number().int().min(1).default(365),
            /** ...and are deleted after this many days (default: 10 years). */
            expireAfterDays: z.number().int().min(1).default(3650),
            /** Write once, read many: S3 Object Lock default retention (needs a new bucket to turn on). */
            objectLock: z.strictObject({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), days: z.number().int().min(1) }).optional(),
          })
          .prefault({}),
        /**
         * Encryption at rest of the archive bucket, the log groups, the dead-letter queues and the lock table (AWS Control
         * Tower's proactive controls ask for KMS). Without keyArn the stack creates a key of its own (rotated yearly, a key
         * policy naming exactly the services and roles that use it); with keyArn that customer-managed key is used and its
         * policy is yours (README, "Encryption").
         */
        kms: z
          .strictObject({
            keyArn: z
              .string()
              .regex(
                /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/,
                'must be the ARN of a KMS key (arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID); an alias is not accepted: log groups need the key ARN',
              )
              .optional(),
            /**
             * Principals that may decrypt what the key protects outside the stack's functions: reading and redriving
             * dead-letter messages, reading the archive directly.
             */
            readers: z
              .array(
                z
                  .string()
                  .regex(
                    /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/,
                    'must be an IAM role or user ARN (arn:PARTITION:iam::ACCOUNT:role/NAME), without wildcards',
                  ),
              )
              .default([]),
          })
          .prefault({}),
      })
      .optional(),
    operations: operationsSchema.prefault({}),
  });
  return { targetSchema, idpSchema, operationsSchema, approvalPolicySchema, configSchema };
};

let built: ReturnType<typeof buildSchemas> | undefined;
export const schemas = (): ReturnType<typeof buildSchemas> => (built ??= buildSchemas());
/** The whole configuration's schema (built on first use: see buildSchemas). */
export const configSchema = (): ReturnType<typeof buildSchemas>['configSchema'] => schemas().configSchema;
/** One target's schema (built on first use: see buildSchemas). */
export const targetSchema = (): ReturnType<typeof buildSchemas>['targetSchema'] => schemas().targetSchema;
type Schemas = ReturnType<typeof buildSchemas>;

/**
 * Roles a target may hand out or reassign to: never RDS's own roles, the marker, reserved names, the successor or the
 * quarantine role (a misconfigured allow-list must not grant rds_superuser); the quarantine role is a role of its own.
 * PostgreSQL's predefined pg_* roles may be allow-listed as group roles (pg_read_all_data, say): that is a DBA's
 * deliberate choice.
 */
const checkTargetRoles = (config: z.infer<Schemas['configSchema']>): string[] => {
  const problems: string[] = [];
  for (const [name, t] of Object.entries(config.targets)) {
    const quarantine = t.reassignment.quarantineRole;
    t.allowedDbRoles.forEach((r, i) => {
      const reason = r.toLowerCase().startsWith('pg_') ? undefined : protectedReason(r, { successorRole: t.successorRole, quarantineRole: quarantine });
      if (reason) problems.push(`targets.${name}.allowedDbRoles.${i}: "${r}" cannot be granted: ${reason}`);
    });
    const successor = protectedReason(t.successorRole);
    if (successor) problems.push(`targets.${name}.successorRole: "${t.successorRole}" cannot receive reassigned objects: ${successor}`);
    const quarantined = protectedReason(quarantine, { successorRole: t.successorRole, extra: [...t.allowedDbRoles, ...t.protectedRoles] });
    if (quarantined) {
      problems.push(
        `targets.${name}.reassignment.quarantineRole: "${quarantine}" cannot be the quarantine ` +
          `role: ${quarantined}; name a role of its own (allowed: a plain identifier not starting with ` +
          `pg_ or rds)`,
      );
    }
  }
  return problems;
};

/** What one schema cannot see: the IdP mapping may only name configured targets and their allowed roles and databases. */
const checkIdpMapping = (config: z.infer<Schemas['configSchema']>): string[] => {
  const problems: string[] = [];
  for (const [group, m] of Object.entries(config.idp?.groups ?? {})) {
    for (const t of m.targets) {
      const target = Object.hasOwn(config.targets, t) ? config.targets[t] : undefined;
      if (!target) problems.push(`idp.groups.${group}.targets: "${t}" is not a configured target`);
      for (const r of m.dbRoles)
        if (target && !target.allowedDbRoles.includes(r)) problems.push(`idp.groups.${group}.dbRoles: "${r}" is not on the allow-list of target "${t}"`);
      for (const d of m.databases)
        if (target && !target.allowedDatabases.includes(d)) problems.push(`idp.groups.${group}.databases: "${d}" is not in allowedDatabases of target "${t}"`);
    }
  }
  problems.push(...checkSharedPrefix(config));
  problems.push(...checkIamPace(config));
  return problems;
};

/** A grant writes up to 3 times (DeletePolicyVersion, CreatePolicyVersion or CreatePolicy, AttachRolePolicy). */
const WRITES_PER_GRANT = 3;
/** What of connectAllow's 30 s may go to waiting for the pace: the rest is the lock wait (5 s) and IAM's reads. */
const PACED_SECONDS_MAX = 20;

/** A pace so slow that one grant outlives its function would dead-letter every onboarding. */
const checkIamPace = (config: z.infer<Schemas['configSchema']>): string[] => {
  const { writesPerSecond, grantConcurrency } = config.iam;
  const seconds = (WRITES_PER_GRANT * grantConcurrency) / writesPerSecond;
  return seconds > PACED_SECONDS_MAX
    ? [
        `iam: writesPerSecond ${writesPerSecond} shared by grantConcurrency ${grantConcurrency} spaces one ` +
          `grant's ${WRITES_PER_GRANT} writes over ${seconds.toFixed(0)} s, ` +
          `more than the ${PACED_SECONDS_MAX} s a grant step may wait within its 30 s: ` +
          `raise writesPerSecond or lower grantConcurrency (grantConcurrency / writesPerSecond at ` +
          `most ${(PACED_SECONDS_MAX / WRITES_PER_GRANT).toFixed(1)})`,
      ]
    : [];
};

/** The shared role's prefix must start every database user it makes and reach no name this project never manages. */
const checkSharedPrefix = (config: z.infer<Schemas['configSchema']>): string[] => {
  const idp = config.idp;
  if (idp?.principal.kind !== 'shared') return [];
  const prefix = idp.principal.dbUserPrefix;
  const problems: string[] = [];
  if (!idp.dbUserTemplate.startsWith(prefix))
    problems.push(
      `idp.dbUserTemplate: must start with idp.principal.dbUserPrefix "${prefix}" (the shared role's ` +
        `statement reaches only names under it), not "${idp.dbUserTemplate}"`,
    );
  for (const [name, t] of Object.entries(config.targets)) {
    const reason = protectedUnderPrefix(prefix, {
      adminUser: t.admin.method === 'iam' ? t.admin.user : undefined,
      successorRole: t.successorRole,
      extra: [...t.protectedRoles, ...t.allowedDbRoles],
    });
    if (reason)
      problems.push(
        `idp.principal.dbUserPrefix: "${prefix}" would let members of the shared role connect as a name never managed on target "${name}": ${reason}`,
      );
  }
  return problems;
};

/** What the policy schema cannot see: names unique, targets and roles configured, durations in order, someone to decide. */
const checkApprovalPolicies = (config: z.infer<Schemas['configSchema']>): string[] => {
  const problems: string[] = [];
  const seen = new Set<string>();
  config.approvalPolicies.forEach((p, i) => {
    const at = `approvalPolicies.${i}`;
    if (seen.has(p.name)) problems.push(`${at}.name: "${p.name}" is the name of an earlier policy; each policy needs a name of its own`);
    seen.add(p.name);
    for (const t of p.match.targets) {
      const target = Object.hasOwn(config.targets, t) ? config.targets[t] : undefined;
      if (!target) {
        problems.push(`${at}.match.targets: "${t}" is not a configured target (configured: ${Object.keys(config.targets).join(', ') || 'none'})`);
        continue;
      }
      for (const r of p.match.dbRoles ?? [])
        if (!target.allowedDbRoles.includes(r)) problems.push(`${at}.match.dbRoles: "${r}" is not on the allow-list of target "${t}"`);
    }
    if (!p.approvers.length && !p.approverGroups.length && !p.autoApprove)
      problems.push(`${at}.approvers: name at least one approver (or approverGroups), or set autoApprove: nobody could ever approve a request`);
    const limits: Array<[string, string | undefined]> = [
      ['defaultDuration', p.defaultDuration],
      ['maxDuration', p.maxDuration],
      ['maxTotalDuration', p.maxTotalDuration],
    ];
    for (let k = 1; k < limits.length; k++) {
      const [shorter, a] = limits[k - 1];
      const [longer, b] = limits[k];
      if (a !== undefined && b !== undefined && durationMs(a) > durationMs(b))
        problems.push(`${at}.${shorter}: "${a}" is longer than ${longer} "${b}"; must be at most ${longer}`);
    }
    if (p.autoApprove && durationMs(p.autoApprove.maxDuration) > durationMs(p.maxDuration))
      problems.push(`${at}.autoApprove.maxDuration: "${p.autoApprove.maxDuration}" is longer than maxDuration "${p.maxDuration}"; must be at most maxDuration`);
  });
  return problems;
};

export type TargetConfig = z.infer<Schemas['targetSchema']>;
export type Config = z.infer<Schemas['configSchema']>;
export type ApprovalPolicy = z.infer<Schemas['approvalPolicySchema']>;
/** A target's settings as they travel in an execution's input, with its name. */
export type ResolvedTargetConfig = TargetConfig & { name: string };

/**
 * Validates a configuration: the schema (unknown keys refused, with the known key they most likely meant), then
 * what one schema cannot see (roles, the IdP mapping). `source` (a file, TARGETS_CONFIG) starts the message.
 */
export const parseConfig = (raw: unknown, source?: string): Config => {
  const result = configSchema().safeParse(raw, { error: configErrorMap, reportInput: true });
  const problems = result.success
    ? [...checkTargetRoles(result.data), ...checkIdpMapping(result.data), ...checkApprovalPolicies(result.data)]
    : formatIssues(result.error.issues);
  if (!result.success || problems.length) throw new ConfigurationError(source, 'invalid targets configuration', problems);
  return result.data;
};

/**
 * What a configuration must also satisfy to be deployed (checked at package time, config/stack.js): the
 * deployment section, and nothing that a function in Lambda would refuse only when it runs.
 */
export const deploymentProblems = (config: Config): string[] => {
  const problems: string[] = [];
  if (Object.keys(config.targets).length === 0)
    problems.push('targets: name at least one target to deploy (the stack grants its functions exactly the targets listed here)');
  if (!config.deployment)
    problems.push('deployment: is required to deploy (deployment.vpc with subnetIds and securityGroupIds, for the functions that reach PostgreSQL)');
  for (const [name, t] of Object.entries(config.targets)) {
    // functions/lib/postgres/connection.ts refuses it in Lambda: the connection would carry the admin's credentials unencrypted.
    if (t.tls === 'disable')
      problems.push(
        `targets.${name}.tls: "disable" is for local mode and tests only; ` +
          `a function in Lambda refuses to connect without TLS (allowed when deploying: "verify-full", ` +
          `the default)`,
      );
  }
  const archive = config.deployment?.archive;
  if (archive && archive.transitionToGlacierAfterDays >= archive.expireAfterDays) {
    problems.push(
      `deployment.archive.transitionToGlacierAfterDays: must be less than expireAfterDays ` +
        `(${archive.expireAfterDays}), not ${archive.transitionToGlacierAfterDays}`,
    );
  }
  return problems;
};

let cached: { source: string; config: Config } | undefined;

/** Reads the configuration from TARGETS_CONFIG (JSON), as serverless.yml and local mode set it. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  const source = env.TARGETS_CONFIG;
  if (!source) throw new ConfigurationError('TARGETS_CONFIG', 'is not set (serverless.yml sets it from the targets file)', []);
  if (cached?.source === source) return cached.config;
  let raw: unknown;
  try {
    raw = JSON.parse(source);
  } catch (e) {
    throw new ConfigurationError('TARGETS_CONFIG', `is not JSON: ${(e as Error).message}`, []);
  }
  const config = parseConfig(raw, 'TARGETS_CONFIG');
  cached = { source, config };
  return config;
};

export const resolveTargetConfig = (config: Config, name: string): ResolvedTargetConfig => {
  const target = Object.hasOwn(config.targets, name) ? config.targets[name] : undefined;
  if (!target) {
    throw new ProvisioningError('UnknownTarget', `target "${name}" is not configured (configured: ${Object.keys(config.targets).join(', ') || 'none'})`, {
      details: { field: 'target' },
    });
  }
  return { name, ...target };
};

export type ReassignmentSettings = TargetConfig['reassignment'];
