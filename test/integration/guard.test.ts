/**
 * The packaged template against the AWS Control Tower proactive controls, for real: `osls package` builds it offline,
 * and the cfn-guard binary with the Control Tower rules shipped in @cdklabs/cdk-validator-cfnguard evaluates it. What
 * the template does not meet by design is listed, with the reason, in config/guard-exceptions.json: any other failure
 * fails here, and so does an exception that no longer matches a failure. Also the encryption key (deployment.kms).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/lib/core/config';

const ROOT = resolve(__dirname, '../..');

interface CfnResource {
  Type: string;
  Condition?: string;
  DeletionPolicy?: string;
  Properties?: Record<string, unknown>;
}
interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Conditions?: Record<string, unknown>;
}
interface KeyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Principal: unknown;
  Action: string | string[];
  Resource: string;
  Condition?: Record<string, Record<string, unknown>>;
}
interface GuardException {
  control: string;
  check: string;
  resources: string[];
  reason: string;
}
/** One failed check of one resource. */
interface Failure {
  check: string;
  resource: string;
  message: string;
}
interface SarifLog {
  runs: Array<{ results: Array<{ ruleId: string; message: { text: string } }> }>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
const key = (f: { check: string; resource: string }): string => `${f.check} ${f.resource}`;

// ---------------------------------------------------------------------------------------------
// cfn-guard and the Control Tower rules, as shipped on npm.

const CFNGUARD_DIR = dirname(createRequire(__filename).resolve('@cdklabs/cdk-validator-cfnguard/package.json'));
const RULES_DIR = join(CFNGUARD_DIR, 'rules', 'control-tower', 'cfn-guard');

function guardBinary(): string {
  const os = process.platform === 'linux' ? 'ubuntu' : process.platform === 'darwin' ? 'macos' : undefined;
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
  if (!os || !arch)
    throw new Error(`@cdklabs/cdk-validator-cfnguard ships cfn-guard for linux and macOS on x64 and arm64, not ${process.platform}/${process.arch}`);
  const bin = join(CFNGUARD_DIR, 'bin', os, arch, 'cfn-guard');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: reinstall @cdklabs/cdk-validator-cfnguard`);
  return bin;
}

/** Every rule file's checks and the control it implements (`[CT.S3.PR.2]` in its messages). */
function controlsOfChecks(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith('.guard') ? [join(dir, n)] : []));
  for (const file of walk(RULES_DIR)) {
    const text = readFileSync(file, 'utf8');
    const control = /\[(CT\.[A-Z0-9]+\.PR\.\d+)\]/.exec(text)?.[1];
    for (const m of text.matchAll(/^rule (\w+) when/gm)) if (control) out.set(m[1], control);
  }
  return out;
}

/** The failures cfn-guard finds in a template: one per (check, resource). */
function guard(template: CfnTemplate, dir: string): Failure[] {
  const data = join(dir, `guard-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(data, JSON.stringify(template, null, 2));
  const r = spawnSync(guardBinary(), ['validate', '--rules', RULES_DIR, '--data', data, '--output-format', 'sarif', '--structured', '--show-summary', 'none'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  // cfn-guard exits 0 when everything passes and 19 when a rule fails; anything else is an error of its own.
  if (r.error || (r.status !== 0 && r.status !== 19)) throw new Error(`cfn-guard failed (status ${r.status}): ${r.error?.message ?? ''}\n${r.stderr}`);
  const sarif = JSON.parse(r.stdout) as SarifLog;
  const failures = new Map<string, Failure>();
  for (const result of sarif.runs.flatMap((run) => run.results)) {
    const resource = /\/Resources\/([A-Za-z0-9]+)/.exec(result.message.text)?.[1];
    if (!resource) throw new Error(`cfn-guard result without a resource path (${result.ruleId}): ${result.message.text.slice(0, 300)}`);
    const f = { check: result.ruleId.toLowerCase(), resource, message: result.message.text.slice(0, 200) };
    if (!failures.has(key(f))) failures.set(key(f), f);
  }
  return [...failures.values()];
}

// ---------------------------------------------------------------------------------------------

const EXCEPTIONS = (JSON.parse(readFileSync(join(ROOT, 'config/guard-exceptions.json'), 'utf8')) as { exceptions: GuardException[] }).exceptions;
const excepted = new Set(EXCEPTIONS.flatMap((e) => e.resources.map((resource) => key({ check: e.check, resource }))));

let workDir: string;
let template: CfnTemplate;
let failures: Failure[];

beforeAll(() => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  workDir = mkdtempSync(join(ROOT, '.tmp', 'guard-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'fake',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // Built from config/targets.example.json, whatever the caller's shell says.
  delete env.TARGETS_FILE;
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  const packageDir = join(workDir, 'package');
  const result = spawnSync('npx', ['osls', 'package', '--stage', 'citest', '--package', packageDir], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 110_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error || result.status !== 0)
    throw new Error(`osls package failed (status ${result.status})\n--- stderr ---\n${result.stderr}\n--- stdout ---\n${result.stdout}`);
  template = JSON.parse(readFileSync(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8')) as CfnTemplate;
  failures = guard(template, workDir);
}, 150_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('AWS Control Tower proactive controls (cfn-guard, rules of @cdklabs/cdk-validator-cfnguard)', () => {
  it('self-check: cfn-guard evaluates the rules, and finds a log group without a KMS key', () => {
    const copy = JSON.parse(JSON.stringify(template)) as CfnTemplate;
    delete copy.Resources.ApiLogGroup.Properties?.KmsKeyId;
    const found = guard(copy, workDir).map(key);
    expect(found).toContain('cloudwatch_log_group_encrypted_check ApiLogGroup');
    expect(failures.map(key)).not.toContain('cloudwatch_log_group_encrypted_check ApiLogGroup');
    expect(controlsOfChecks().size, 'checks read from the rule files').toBeGreaterThan(100);
  });

  it('fails no control except those listed in config/guard-exceptions.json', () => {
    const controls = controlsOfChecks();
    const unexpected = failures.filter((f) => !excepted.has(key(f))).map((f) => `${controls.get(f.check) ?? '?'} ${f.check} on ${f.resource}: ${f.message}`);
    expect(unexpected).toEqual([]);
  });

  it('lists no exception that no longer matches a failure', () => {
    const found = new Set(failures.map(key));
    expect([...excepted].filter((k) => !found.has(k))).toEqual([]);
  });

  it('names, for each exception, the control its check implements, resources of the template, and a reason', () => {
    const controls = controlsOfChecks();
    for (const e of EXCEPTIONS) {
      expect(controls.get(e.check), `config/guard-exceptions.json: ${e.check}`).toBe(e.control);
      expect(e.reason.length, `${e.control}: reason`).toBeGreaterThan(40);
      for (const r of e.resources) expect(template.Resources[r], `${e.control}: ${r} is not a resource of the template`).toBeDefined();
    }
    expect(EXCEPTIONS.flatMap((e) => e.resources.map((resource) => key({ check: e.check, resource }))).length, 'no entry twice').toBe(excepted.size);
  });

  it('CT.LAMBDA.PR.2 exceptions hold: every Lambda permission is limited by SourceArn to this API or the one rule that targets the function', () => {
    const perms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Permission');
    expect(perms.length).toBeGreaterThan(0);
    for (const [id, r] of perms) {
      const p = r.Properties ?? {};
      const source = JSON.stringify(p.SourceArn ?? null);
      if (p.Principal === 'apigateway.amazonaws.com') {
        expect(source, id).toContain('{"Ref":"HttpApi"}');
        expect(source, id).toContain(':execute-api:');
      } else {
        expect(p.Principal, id).toBe('events.amazonaws.com');
        const fn = JSON.stringify(p.FunctionName);
        const targeting = Object.entries(template.Resources).filter(
          ([, rule]) => rule.Type === 'AWS::Events::Rule' && JSON.stringify(rule.Properties?.Targets).includes(JSON.parse(fn)['Fn::GetAtt'][0] as string),
        );
        expect(targeting.length, `${id}: no rule targets ${fn}`).toBeGreaterThan(0);
        // Either the rule's own Arn (a schedule: osls writes GetAtt) or its name inside the joined ARN (a rule on a bus).
        const named = targeting.some(
          ([ruleId, rule]) => source === JSON.stringify({ 'Fn::GetAtt': [ruleId, 'Arn'] }) || source.includes(`"${String(rule.Properties?.Name)}"`),
        );
        expect(named, `${id}: SourceArn ${source} names none of the rules ${targeting.map(([ruleId]) => ruleId).join(', ')}`).toBe(true);
      }
    }
  });

  it('CT.S3.PR.9 exception holds: with deployment.archive.objectLock the archive bucket passes the Object Lock control', () => {
    const copy = JSON.parse(JSON.stringify(template)) as CfnTemplate;
    copy.Resources.ArchiveBucket.Properties = stackWith({
      archive: { transitionToGlacierAfterDays: 30, expireAfterDays: 2600, objectLock: { mode: 'COMPLIANCE', days: 2555 } },
    }).archiveBucketProperties as Record<string, unknown>;
    const found = guard(copy, workDir).map(key);
    expect(found).not.toContain('s3_bucket_object_lock_enabled_check ArchiveBucket');
    expect(found).toContain('s3_bucket_object_lock_enabled_check ServerlessDeploymentBucket');
  });

  it('README lists every exception (control and resources)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### AWS Control Tower proactive controls'));
    expect(section.length, 'README: section "### AWS Control Tower proactive controls"').toBeLessThan(readme.length);
    for (const e of EXCEPTIONS) {
      const row = section.split('\n').find((l) => l.startsWith(`| ${e.control} `));
      expect(row, `README: no row for ${e.control}`).toBeDefined();
      for (const r of e.resources) expect(row, `README row ${e.control}`).toContain(r);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// config/stack.js with another deployment section.

function stackWith(deployment: Record<string, unknown>): Record<string, unknown> {
  const example = JSON.parse(readFileSync(join(ROOT, 'config/targets.example.json'), 'utf8')) as Record<string, unknown>;
  const file = join(workDir, `targets-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ ...example, deployment: { ...(example.deployment as object), ...deployment } }));
  const out = execFileSync(
    process.execPath,
    ['-e', "require('tsx/cjs'); process.stdout.write(JSON.stringify(require('./config/stack.js')({ options: { stage: 'citest' } })))"],
    {
      cwd: ROOT,
      env: { ...process.env, TARGETS_FILE: file },
      encoding: 'utf8',
    },
  );
  return JSON.parse(out) as Record<string, unknown>;
}

const KEY = { 'Fn::GetAtt': ['EncryptionKey', 'Arn'] };
const CUSTOMER_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function keyStatements(): KeyStatement[] {
  const policy = template.Resources.EncryptionKey?.Properties?.KeyPolicy as { Statement: KeyStatement[] } | undefined;
  if (!policy) throw new Error('template has no EncryptionKey.KeyPolicy');
  return policy.Statement;
}
const statement = (sid: string): KeyStatement => {
  const s = keyStatements().find((x) => x.Sid === sid);
  if (!s) throw new Error(`key policy has no statement ${sid}`);
  return s;
};
/** Role logical ids named by a statement's aws:PrincipalArn patterns (`role/${AWS::StackName}-Id-*`). */
const rolesOf = (s: KeyStatement): string[] =>
  sorted(
    asArray(s.Condition?.ArnLike?.['aws:PrincipalArn'] as unknown[] | undefined).map((p) => {
      const text = isRecord(p) ? String(p['Fn::Sub']) : String(p);
      const m = /:role\/\$\{AWS::StackName\}-(\w+)-\*$/.exec(text);
      if (!m) throw new Error(`${s.Sid}: unexpected principal pattern ${text}`);
      return m[1];
    }),
  );

/** Roles whose identity policies allow one of the actions (on any resource, or on the one given). */
function rolesAllowing(actions: string[], resource?: unknown): string[] {
  const out: string[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    const policies = asArray(
      r.Properties?.Policies as Array<{ PolicyDocument: { Statement: Array<{ Effect: string; Action: string | string[]; Resource: unknown }> } }> | undefined,
    );
    const hit = policies.some((p) =>
      asArray(p.PolicyDocument.Statement).some(
        (s) =>
          s.Effect === 'Allow' &&
          asArray(s.Action).some((a) => actions.includes(a)) &&
          (resource === undefined || JSON.stringify(asArray(s.Resource as unknown[])).includes(JSON.stringify(resource))),
      ),
    );
    if (hit) out.push(id);
  }
  return sorted(out);
}

/** IAM's ArnLike for one segment-free pattern: `*` any characters, `?` one. */
const arnLike = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(value);
const PSEUDO = (s: string): string => s.replace('${AWS::Partition}', 'aws').replace('${AWS::Region}', 'eu-west-1').replace('${AWS::AccountId}', '123456789012');

describe('encryption at rest (deployment.kms)', () => {
  it('creates a rotated, retained key when no customer-managed key is configured, and uses it for every log group, queue, the archive and both tables', () => {
    const k = template.Resources.EncryptionKey;
    expect(k?.Type).toBe('AWS::KMS::Key');
    expect(k.Properties?.EnableKeyRotation).toBe(true);
    expect(k.DeletionPolicy).toBe('Retain');
    expect(template.Conditions?.[k.Condition as string]).toEqual({ 'Fn::Equals': ['true', 'true'] });
    const byType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
    expect(byType('AWS::Logs::LogGroup').length).toBeGreaterThan(10);
    for (const [id, r] of byType('AWS::Logs::LogGroup')) expect(r.Properties?.KmsKeyId, `${id}.KmsKeyId`).toEqual(KEY);
    for (const [id, r] of byType('AWS::SQS::Queue')) expect(r.Properties?.KmsMasterKeyId, `${id}.KmsMasterKeyId`).toEqual(KEY);
    expect(sorted(byType('AWS::DynamoDB::Table').map(([id]) => id))).toEqual(['AccessRequestsTable', 'GrantLocksTable']);
    for (const [id, r] of byType('AWS::DynamoDB::Table'))
      expect(r.Properties?.SSESpecification, `${id}.SSESpecification`).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY });
    expect(template.Resources.ArchiveBucket.Properties?.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KEY }, BucketKeyEnabled: true }],
    });
    // The deployment bucket exists before the key: S3's AWS-managed key.
    expect(template.Resources.ServerlessDeploymentBucket.Properties?.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }],
    });
  });

  it('lets the account administer the key but encrypt or decrypt with it only through the statements for its users', () => {
    const admin = statement('KeyAdministration');
    expect(admin.Principal).toEqual({ AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } });
    for (const a of asArray(admin.Action)) expect(a, 'KeyAdministration').not.toMatch(/^kms:(Encrypt|Decrypt|ReEncrypt|GenerateDataKey|CreateGrant|\*)/);
    expect(statement('GrantsForAwsResourcesOnly').Condition).toEqual({ Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    expect(statement('DenyGrantsExceptForAwsServices')).toMatchObject({ Effect: 'Deny', Principal: '*', Action: 'kms:CreateGrant' });
    // Every statement for Principal "*" pins the caller: the account, a service, and exactly named roles.
    for (const s of keyStatements().filter((x) => x.Effect === 'Allow' && JSON.stringify(x.Principal) === '{"AWS":"*"}')) {
      expect(s.Condition?.StringEquals?.['kms:CallerAccount'], s.Sid).toEqual({ 'Fn::Sub': '${AWS::AccountId}' });
      expect(s.Condition?.StringEquals?.['kms:ViaService'], s.Sid).toBeDefined();
      expect(rolesOf(s).length, `${s.Sid}: roles`).toBeGreaterThan(0);
    }
  });

  it('names exactly the roles that write the archive, read it, send dead letters, and use the lock table or the access-request table', () => {
    expect(rolesOf(statement('ArchiveWriteByArchiveAndReconcile'))).toEqual(rolesAllowing(['s3:PutObject']));
    expect(rolesOf(statement('ArchiveReadByApi'))).toEqual(rolesAllowing(['s3:GetObject']));
    expect(rolesOf(statement('QueueSenders'))).toEqual(rolesAllowing(['sqs:SendMessage']));
    expect(rolesOf(statement('QueueReceivers'))).toEqual(rolesAllowing(['sqs:ReceiveMessage']));
    // The DynamoDB statement (its Sid from before the access-request table) covers the users of both tables, both
    // encrypted with the key: the lease and lock holders, and the functions that read or update access requests (the
    // api, the lifecycle steps and sweeper, the end steps, and idpEvents, which ends a removed person's requests).
    const TABLE_ACTIONS = ['dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:Scan'];
    const lockUsers = rolesAllowing(TABLE_ACTIONS, { 'Fn::GetAtt': ['GrantLocksTable', 'Arn'] });
    const requestUsers = rolesAllowing(TABLE_ACTIONS, { 'Fn::GetAtt': ['AccessRequestsTable', 'Arn'] });
    expect(requestUsers).toEqual(['AccessRecordRole', 'AccessSweepRole', 'ApiRole', 'ConnectEndRole', 'DbGrantEndRole', 'IdpEventsRole']);
    expect(rolesOf(statement('LockTableByLeaseHolders'))).toEqual(sorted([...lockUsers, ...requestUsers]));
    // No role uses DynamoDB on anything else, or with an action the lists above miss.
    const dynamodbActions = sorted(
      Object.values(template.Resources)
        .filter((r) => r.Type === 'AWS::IAM::Role')
        .flatMap((r) => asArray(r.Properties?.Policies as Array<{ PolicyDocument: { Statement: Array<{ Action: string | string[] }> } }> | undefined))
        .flatMap((p) => asArray(p.PolicyDocument.Statement))
        .flatMap((st) => asArray(st.Action))
        .filter((a) => a.startsWith('dynamodb:')),
    );
    for (const a of dynamodbActions) expect(TABLE_ACTIONS, a).toContain(a);
    expect(rolesAllowing(dynamodbActions)).toEqual(sorted([...lockUsers, ...requestUsers]));
    for (const s of keyStatements())
      for (const role of s.Condition?.ArnLike?.['aws:PrincipalArn'] ? rolesOf(s) : [])
        expect(template.Resources[role]?.Type, `${s.Sid}: ${role}`).toBe('AWS::IAM::Role');
  });

  it("lets CloudWatch Logs use the key for this stack's log groups, and EventBridge for its rules' dead letters", () => {
    const logs = statement('CloudWatchLogsForThisStacksLogGroups');
    expect(logs.Principal).toEqual({ Service: { 'Fn::Sub': 'logs.${AWS::Region}.amazonaws.com' } });
    const patterns = asArray(logs.Condition?.ArnLike?.['kms:EncryptionContext:aws:logs:arn'] as Array<{ 'Fn::Sub': string }>).map((p) => PSEUDO(p['Fn::Sub']));
    for (const [id, r] of Object.entries(template.Resources).filter(([, x]) => x.Type === 'AWS::Logs::LogGroup')) {
      const arn = `arn:aws:logs:eu-west-1:123456789012:log-group:${String(r.Properties?.LogGroupName)}`;
      expect(
        patterns.some((p) => arnLike(p, arn)),
        `${id}: ${arn} is not covered by ${patterns.join(', ')}`,
      ).toBe(true);
    }
    expect(
      patterns.some((p) => arnLike(p, 'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/other-service-citest-api')),
      'another service',
    ).toBe(false);
    const events = statement('EventBridgeDeadLettersOfThisStacksRules');
    expect(events.Principal).toEqual({ Service: 'events.amazonaws.com' });
    const source = PSEUDO((events.Condition!.ArnLike!['aws:SourceArn'] as { 'Fn::Sub': string })['Fn::Sub']);
    const dlqRules = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties?.Targets).includes('DeadLetterConfig'),
    );
    expect(dlqRules.length).toBeGreaterThan(0);
    for (const r of dlqRules) {
      const bus = r.Properties?.EventBusName;
      const arn = `arn:aws:events:eu-west-1:123456789012:rule/${bus ? `${String(bus)}/` : ''}${String(r.Properties?.Name)}`;
      expect(arnLike(source, arn), `${arn} is not covered by ${source}`).toBe(true);
    }
  });

  it('uses a configured customer-managed key instead (no key created; the deployment bucket too), and lets configured readers decrypt', () => {
    const reader = 'arn:aws:iam::123456789012:role/platform-oncall';
    const s = stackWith({ kms: { keyArn: CUSTOMER_KEY, readers: [reader] } });
    expect(s.kmsKeyArn).toBe(CUSTOMER_KEY);
    expect(s.createsEncryptionKey).toEqual({ 'Fn::Equals': ['false', 'true'] });
    expect(JSON.stringify(s.archiveBucketProperties)).toContain(`"KMSMasterKeyID":"${CUSTOMER_KEY}"`);
    expect(s.deploymentBucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: CUSTOMER_KEY }, BucketKeyEnabled: true }],
    });
    const readers = (s.encryptionKeyPolicy as { Statement: KeyStatement[] }).Statement.find((x) => x.Sid === 'ConfiguredReaders');
    expect(readers?.Action).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
    expect(readers?.Condition?.ArnEquals).toEqual({ 'aws:PrincipalArn': [reader] });
    // Without readers there is no such statement.
    expect(keyStatements().map((x) => x.Sid)).not.toContain('ConfiguredReaders');
  });

  it.each([
    [{ keyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/rds-iam-access' }, 'deployment.kms.keyArn: must be the ARN of a KMS key'],
    [{ keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/*' }, 'deployment.kms.keyArn: must be the ARN of a KMS key'],
    [{ readers: ['arn:aws:iam::123456789012:role/*'] }, 'deployment.kms.readers.0: must be an IAM role or user ARN'],
    [{ keyID: CUSTOMER_KEY }, 'deployment.kms'],
  ])('refuses deployment.kms %j, naming the field and what is allowed', (kms, message) => {
    const example = JSON.parse(readFileSync(join(ROOT, 'config/targets.example.json'), 'utf8')) as Record<string, unknown>;
    const raw = { ...example, deployment: { ...(example.deployment as object), kms } };
    expect(() => parseConfig(raw)).toThrow(message);
  });
});

// ---------------------------------------------------------------------------------------------
// docs/deployer-policy.json: what the identity that deploys needs, for every resource type of the template.

/** The actions CloudFormation calls to create and delete each resource type (its handler's permissions). */
const DEPLOY_ACTIONS: Record<string, string[]> = {
  'AWS::S3::Bucket': [
    's3:CreateBucket',
    's3:DeleteBucket',
    's3:PutEncryptionConfiguration',
    's3:PutBucketVersioning',
    's3:PutBucketPublicAccessBlock',
    's3:PutLifecycleConfiguration',
  ],
  'AWS::S3::BucketPolicy': ['s3:PutBucketPolicy', 's3:DeleteBucketPolicy'],
  'AWS::Logs::LogGroup': ['logs:CreateLogGroup', 'logs:DeleteLogGroup', 'logs:PutRetentionPolicy', 'logs:AssociateKmsKey'],
  'AWS::Lambda::Function': [
    'lambda:CreateFunction',
    'lambda:DeleteFunction',
    'lambda:UpdateFunctionCode',
    'lambda:UpdateFunctionConfiguration',
    'iam:PassRole',
  ],
  'AWS::Lambda::Version': ['lambda:PublishVersion'],
  'AWS::Lambda::EventInvokeConfig': ['lambda:PutFunctionEventInvokeConfig', 'lambda:DeleteFunctionEventInvokeConfig'],
  'AWS::Lambda::Permission': ['lambda:AddPermission', 'lambda:RemovePermission'],
  'AWS::Lambda::EventSourceMapping': [
    'lambda:CreateEventSourceMapping',
    'lambda:DeleteEventSourceMapping',
    'lambda:GetEventSourceMapping',
    'lambda:UpdateEventSourceMapping',
  ],
  'AWS::IAM::Role': ['iam:CreateRole', 'iam:DeleteRole', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:GetRole'],
  'AWS::StepFunctions::StateMachine': [
    'states:CreateStateMachine',
    'states:DeleteStateMachine',
    'states:UpdateStateMachine',
    'iam:PassRole',
    'logs:CreateLogDelivery',
  ],
  'AWS::Events::Rule': ['events:PutRule', 'events:DeleteRule', 'events:PutTargets', 'events:RemoveTargets'],
  'AWS::ApiGatewayV2::Api': ['apigateway:POST', 'apigateway:DELETE'],
  'AWS::ApiGatewayV2::Stage': ['apigateway:POST', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGatewayV2::Integration': ['apigateway:POST', 'apigateway:DELETE'],
  'AWS::ApiGatewayV2::Route': ['apigateway:POST', 'apigateway:DELETE'],
  'AWS::KMS::Key': ['kms:CreateKey', 'kms:PutKeyPolicy', 'kms:EnableKeyRotation', 'kms:ScheduleKeyDeletion'],
  'AWS::KMS::Alias': ['kms:CreateAlias', 'kms:DeleteAlias'],
  'AWS::DynamoDB::Table': ['dynamodb:CreateTable', 'dynamodb:DeleteTable', 'dynamodb:DescribeTable', 'kms:CreateGrant'],
  'AWS::SQS::Queue': ['sqs:CreateQueue', 'sqs:DeleteQueue', 'sqs:SetQueueAttributes'],
  'AWS::SQS::QueuePolicy': ['sqs:SetQueueAttributes'],
  'AWS::SNS::Topic': ['sns:CreateTopic', 'sns:DeleteTopic'],
  'AWS::SNS::Subscription': ['sns:Subscribe', 'sns:Unsubscribe'],
  // The resource type's handlers (CloudFormation registry schema): deleting a group deletes the schedules left in it.
  'AWS::Scheduler::ScheduleGroup': [
    'scheduler:CreateScheduleGroup',
    'scheduler:GetScheduleGroup',
    'scheduler:TagResource',
    'scheduler:ListTagsForResource',
    'scheduler:DeleteScheduleGroup',
    'scheduler:DeleteSchedule',
  ],
  'AWS::CloudWatch::Alarm': ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'],
};

describe('docs/deployer-policy.json', () => {
  const policy = JSON.parse(readFileSync(join(ROOT, 'docs/deployer-policy.json'), 'utf8')) as { Statement: Array<{ Effect: string; Action: string[] }> };
  const allowed = new Set(policy.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => s.Action));

  it('allows what CloudFormation needs to create and delete every resource type of the packaged template', () => {
    const types = sorted(Object.values(template.Resources).map((r) => r.Type));
    expect(
      types.filter((t) => !DEPLOY_ACTIONS[t]),
      'resource types without an entry in DEPLOY_ACTIONS (add one, and the actions to the policy)',
    ).toEqual([]);
    const missing = types.flatMap((t) => DEPLOY_ACTIONS[t].filter((a) => !allowed.has(a)).map((a) => `${t}: ${a}`));
    expect(missing).toEqual([]);
    expect(
      [...allowed].some((a) => a.includes('*')),
      'no wildcard action',
    ).toBe(false);
  });

  it("lets the deployer pass only the stack's roles", () => {
    const pass = policy.Statement.find((s) => s.Action.includes('iam:PassRole')) as { Resource: string } | undefined;
    expect(pass?.Resource).toBe('arn:aws:iam::*:role/rds-iam-access-*');
  });
});
