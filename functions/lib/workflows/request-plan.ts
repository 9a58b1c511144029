import type { IAMClient } from '@aws-sdk/client-iam';
import type { RDSClient } from '@aws-sdk/client-rds';
import { dbUserResourceArn, type PrincipalArn } from '../core/arn';
import type { Config, ResolvedTargetConfig } from '../core/config';
import { findGrantHolders, grantPoliciesOf, planGrantAddition, planGrantRemoval, readPrincipalGrants } from '../iam/grants';
import { grantablePrincipalId } from '../iam/principal-id';
import { type PolicyDocument, renderPolicy } from '../iam/policy-document';
import { describeTarget, planIamAuth, type ResolvedTarget } from '../rds/target';
import type { ValidatedOffboarding, ValidatedOnboarding } from '../core/requests';
import { offboardDdl, type SqlStep } from '../postgres/ddl';
import { TERMINATE_SESSIONS } from '../postgres/queries';
import type { ObjectDecision } from '../postgres/reassign';
import { connectResourceOf, type OffboardState, type OnboardState } from './steps';
import type { DatabaseReview } from '../postgres/review';
import type { OffboardingSqlPlan, OnboardingSqlPlan } from './database-plan';
import { OFFBOARDING_ORDER, type OffboardingFacts, planOffboarding } from './offboarding-plan';

/**
 * Dry runs: what a request would change, as data, computed by the planners the workflow steps
 * use (planIamAuth, planOnboarding, planGrantAddition, planGrantRemoval) from reads only. Like
 * the workflow, RDS and IAM are read here and the database where the database steps run.
 */
export interface PlanStep {
  system: 'rds' | 'postgresql' | 'iam';
  /** The AWS API action, or SQL. */
  action: string;
  description: string;
  sql?: string;
  /** The database a statement runs in (cluster-wide statements run in the admin database). */
  database?: string;
  resource?: string;
  /** The document an IAM policy change would write. */
  policyDocument?: PolicyDocument;
}

export interface RequestPlan {
  dryRun: true;
  kind: 'onboarding' | 'offboarding';
  requestId: string;
  dbUser: string;
  target: { name: string; kind: string; identifier: string; resourceId: string; endpoint: string; engineVersion: string; iamAuthEnabled: boolean };
  /** The IAM principals whose grants change. */
  principals: string[];
  /** How the run would end if nothing else changes first. */
  outcome: 'created' | 'updated' | 'already present' | 'dropped' | 'not found';
  steps: PlanStep[];
  /** Offboarding: what happens to each object the user owns, in every database (as the run decides it). */
  objects?: ObjectDecision[];
}

/** The database half of the plan (functions/db-user-plan.ts, reached through Lambda). */
export interface DatabasePlanner {
  onboarding: (state: OnboardState) => Promise<OnboardingSqlPlan>;
  offboarding: (state: OffboardState) => Promise<OffboardingSqlPlan | undefined>;
  review: (state: Pick<OnboardState, 'target' | 'db'>, dbUsers: string[]) => Promise<DatabaseReview>;
  /** Refuses (UnknownDatabase) databases that do not exist; answers the allowed ones that do. */
  databases: (state: Pick<OnboardState, 'target' | 'db'>, databases: string[]) => Promise<{ existing: string[] }>;
}

export interface PlanDeps {
  /** RDS client of a target's Region. */
  rds: (region: string) => RDSClient;
  iam: IAMClient;
  /** The iam section of the configuration: grant limits and which principals may be granted to. */
  limits: Config['iam'];
  database: DatabasePlanner;
}

const targetView = (target: ResolvedTargetConfig, db: ResolvedTarget): RequestPlan['target'] => ({
  name: target.name,
  kind: db.kind,
  identifier: db.identifier,
  resourceId: db.resourceId,
  endpoint: `${db.host}:${db.port}`,
  engineVersion: db.engineVersion,
  iamAuthEnabled: db.iamAuthEnabled,
});

const sqlSteps = (steps: SqlStep[], database: string): PlanStep[] =>
  steps.map((s) => ({ system: 'postgresql', action: 'SQL', sql: s.sql, description: s.purpose, database }));

const attachAction = (p: PrincipalArn): string => (p.type === 'role' ? 'iam:AttachRolePolicy' : 'iam:AttachUserPolicy');
const detachAction = (p: PrincipalArn): string => (p.type === 'role' ? 'iam:DetachRolePolicy' : 'iam:DetachUserPolicy');

export const planOnboardingRequest = async (deps: PlanDeps, validated: ValidatedOnboarding): Promise<RequestPlan> => {
  const { target } = validated;
  // As the Validate step does: the unique id decides whether an existing database user may be given to this principal.
  const request = { ...validated.request, principalId: await grantablePrincipalId(deps.iam, validated.request.principal, deps.limits.grantablePrincipals) };
  const db = await describeTarget(deps.rds(target.region), target);
  const steps: PlanStep[] = [];
  const iamAuth = planIamAuth(target, db);
  if (iamAuth) {
    const when = iamAuth.applyImmediately ? 'applied immediately' : 'in the next maintenance window';
    steps.push({
      system: 'rds',
      action: iamAuth.action,
      resource: db.arn,
      description: `enable IAM database authentication (${when}), then check every ${target.iamAuth.pollSeconds} s, at most ${target.iamAuth.maxPolls} times`,
    });
  }

  const database = await deps.database.onboarding({ request, target, db });
  steps.push(...sqlSteps(database.steps, target.adminDatabase));

  const resourceArn = connectResourceOf({ request, target, db });
  const grant = planGrantAddition(await readPrincipalGrants(deps.iam, request.principal), request.principal, resourceArn, deps.limits);
  if (grant.action === 'new version') {
    steps.push({
      system: 'iam',
      action: 'iam:CreatePolicyVersion',
      resource: grant.policyArn,
      description: `allow rds-db:connect on ${resourceArn} in ${grant.policyName} (new default version)`,
      policyDocument: renderPolicy(grant.grants),
    });
  } else if (grant.action === 'create and attach') {
    steps.push(
      {
        system: 'iam',
        action: 'iam:CreatePolicy',
        resource: grant.policyArn,
        description: `create ${grant.policyName} allowing rds-db:connect on ${resourceArn}`,
        policyDocument: renderPolicy(grant.grants),
      },
      {
        system: 'iam',
        action: attachAction(request.principal),
        resource: request.principal.arn,
        description: `attach ${grant.policyName} to ${request.principal.arn}`,
      },
    );
  }

  return {
    dryRun: true,
    kind: 'onboarding',
    requestId: request.requestId,
    dbUser: request.dbUser,
    target: targetView(target, db),
    principals: [request.principal.arn],
    outcome: !database.roleExists ? 'created' : database.steps.length || grant.action !== 'none' ? 'updated' : 'already present',
    steps,
  };
};

/**
 * What a real onboarding must pass before it starts, read as the dry run reads: the databases it names exist (the
 * rule of CreateDbUser, assertDatabasesExist, run where the database steps run). A request without databases needs no read.
 */
export const checkOnboardingRequest = async (deps: PlanDeps, { request, target }: ValidatedOnboarding): Promise<void> => {
  if (!request.databases.length) return;
  const db = await describeTarget(deps.rds(target.region), target);
  await deps.database.databases({ target, db }, request.databases);
};

/** The IAM changes that remove one grant from one principal (a deleted principal's orphaned policies go too). */
const revokeSteps = async (deps: PlanDeps, principal: PrincipalArn, resourceArn: string): Promise<PlanStep[]> => {
  const { policies, principalDeleted } = await grantPoliciesOf(deps.iam, principal);
  return planGrantRemoval(policies, resourceArn).flatMap((p): PlanStep[] =>
    p.change === 'updated'
      ? [
          {
            system: 'iam',
            action: 'iam:CreatePolicyVersion',
            resource: p.policyArn,
            description: `remove ${resourceArn} from ${p.policyName} (new default version)`,
            policyDocument: renderPolicy(p.remaining),
          },
        ]
      : [
          ...(principalDeleted
            ? []
            : [
                {
                  system: 'iam' as const,
                  action: detachAction(principal),
                  resource: principal.arn,
                  description: `detach ${p.policyName}, its last grant is ${resourceArn}`,
                },
              ]),
          {
            system: 'iam',
            action: 'iam:DeletePolicy',
            resource: p.policyArn,
            description: `delete ${p.policyName}${principalDeleted ? `, left behind by ${principal.arn}, which no longer exists in IAM` : ''}`,
          },
        ],
  );
};

export const planOffboardingRequest = async (deps: PlanDeps, { request, target }: ValidatedOffboarding): Promise<RequestPlan> => {
  const { dbUser } = request;
  const successor = target.successorRole;
  const db = await describeTarget(deps.rds(target.region), target);
  const found = await deps.database.offboarding({ request, target, db });

  const resourceArn = dbUserResourceArn({ ...db, dbUser });
  const principals = request.principal ? [request.principal] : await findGrantHolders(deps.iam, resourceArn);
  const iamSteps: PlanStep[] = [];
  for (const p of principals) iamSteps.push(...(await revokeSteps(deps, p, resourceArn)));

  // The run's phases, in the workflow's order (workflows/offboarding-plan.ts): block login and end sessions, revoke connect,
  // then move objects and drop.
  const facts: OffboardingFacts | undefined = found && {
    canLogin: found.canLogin,
    sessions: found.sessions,
    terminateSessionsSql: TERMINATE_SESSIONS(found.versionNum).trim(),
    retirePrelude: [...found.adminLacks.map((r) => offboardDdl.inheritRole(r, found.versionNum)), ...found.quarantineRole],
    databases: found.databases.map((database) => ({
      database,
      reassignment: found.reassignment[database]?.steps ?? [],
      toSuccessor: (found.reassignment[database]?.decisions ?? []).filter((d) => d.action === 'successor').length,
    })),
  };
  const phases = planOffboarding(dbUser, successor, target.adminDatabase, facts);
  const steps: PlanStep[] = OFFBOARDING_ORDER.flatMap((phase) => [
    ...phases[phase].flatMap(({ database, step }) => sqlSteps([step], database)),
    ...(phase === 'RevokeConnect' ? iamSteps : []),
  ]);

  return {
    dryRun: true,
    kind: 'offboarding',
    requestId: request.requestId,
    dbUser,
    target: targetView(target, db),
    principals: principals.map((p) => p.arn),
    outcome: found ? 'dropped' : 'not found',
    steps,
    objects: found ? found.databases.flatMap((d) => found.reassignment[d]?.decisions ?? []) : [],
  };
};
