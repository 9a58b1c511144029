import { reassignmentOf, type ResolvedTargetConfig } from './config';
import type { ProtectedNames } from './identifiers';
import type { ResolvedTarget } from './rds';
import type { OffboardRequest, OnboardRequest } from './requests';
import type { DbUserSpec } from './sql/onboard';

/** The execution state as the onboarding state machine builds it, step by step. */
export interface OnboardState {
  request: OnboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
}

/** The execution state of the offboarding state machine. */
export interface OffboardState {
  request: OffboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
}

/** Names on this target that are never managed: the master user, the successor, configured and group roles. */
export const protectedNamesOf = (target: ResolvedTargetConfig, db: ResolvedTarget): ProtectedNames & { successorRole: string } => ({
  masterUser: db.masterUser,
  successorRole: target.successorRole,
  quarantineRole: reassignmentOf(target).quarantineRole,
  extra: [...target.protectedRoles, ...target.allowedDbRoles],
});

/** What the database user of an onboarding must look like: for the run and for its dry run. */
export const dbUserSpecOf = ({ request, target, db }: OnboardState): DbUserSpec => ({
  dbUser: request.dbUser,
  requestId: request.requestId,
  principalArn: request.principal.arn,
  dbRoles: request.dbRoles,
  databases: request.databases,
  protectedNames: protectedNamesOf(target, db),
  ...(request.requireOwner ? { requireOwner: request.requireOwner } : {}),
  ...(request.idpUser ? { idpUser: request.idpUser } : {}),
  ...(request.exclusiveRoles ? { revokableRoles: target.allowedDbRoles } : {}),
});
