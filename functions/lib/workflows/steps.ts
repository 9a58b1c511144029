import { dbUserResourceArn, sessionTagConnectResource } from '../core/arn';
import type { ResolvedTargetConfig } from '../core/config';
import { ProvisioningError } from '../core/errors';
import { type ProtectedNames, protectedUnderPrefix } from '../core/identifiers';
import type { ResolvedTarget } from '../rds/target';
import { type OffboardRequest, type OnboardRequest, protectedNamesOfTarget } from '../core/requests';
import type { DbUserSpec } from '../postgres/onboard';

/** The execution state as the onboarding state machine builds it, step by step. */
export interface OnboardState {
  request: OnboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
  /** `$$.Execution.Id`: the holder of the database user's lease (db-user-lease.ts); absent in runs started before leases. */
  execution?: string;
  /** CompensateDbUser only: what failed (the state machine's Catch). */
  error?: { Error?: string; Cause?: string };
}

/** The execution state of the offboarding state machine. */
export interface OffboardState {
  request: OffboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
  execution?: string;
}

/** Names on this target that are never managed: the master user, the successor, configured and group roles. */
export const protectedNamesOf = (target: ResolvedTargetConfig, db: ResolvedTarget): ProtectedNames & { successorRole: string } => ({
  ...protectedNamesOfTarget(target),
  masterUser: db.masterUser,
});

/** What the database user of an onboarding must look like: for the run and for its dry run. */
export const dbUserSpecOf = ({ request, target, db }: OnboardState): DbUserSpec => ({
  dbUser: request.dbUser,
  requestId: request.requestId,
  principalArn: request.principal.arn,
  ...(request.principalId ? { principalId: request.principalId } : {}),
  dbRoles: request.dbRoles,
  databases: request.databases,
  protectedNames: protectedNamesOf(target, db),
  ...(request.requireOwner ? { requireOwner: request.requireOwner } : {}),
  ...(request.idpUser ? { idpUser: request.idpUser } : {}),
  ...(request.exclusiveRoles ? { revokableRoles: target.allowedDbRoles } : {}),
  allowedDatabases: target.allowedDatabases,
});

/** The rds-db:connect resource of an onboarding: for the run and for its dry run. */
export const connectResourceOf = ({ request, target, db }: OnboardState): string => {
  if (request.sessionTagKey === undefined) return dbUserResourceArn({ ...db, dbUser: request.dbUser });
  // A run validated before prefixes existed: its statement would reach every database user.
  if (request.sessionTagPrefix === undefined)
    throw new ProvisioningError(
      'ConfigurationError',
      `a shared-role grant needs idp.principal.dbUserPrefix; request ${request.requestId} has none: run it again`,
    );
  // The master user is known only now, from RDS: a prefix that reaches it would let a member connect as it.
  const reason = protectedUnderPrefix(request.sessionTagPrefix, protectedNamesOf(target, db));
  if (reason)
    throw new ProvisioningError(
      'ConfigurationError',
      `idp.principal.dbUserPrefix "${request.sessionTagPrefix}" cannot be granted on target "${target.name}": ${reason}`,
    );
  return sessionTagConnectResource(db, request.sessionTagKey, request.sessionTagPrefix);
};
