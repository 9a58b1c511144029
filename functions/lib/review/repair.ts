import { dbUserResourceArn, parsePrincipalArn } from '../core/arn';
import type { ResolvedTargetConfig } from '../core/config';
import { isProvisioningError, ProvisioningError } from '../core/errors';
import { type GrantDeps, removeConnectGrant } from '../iam/grants';
import { describeTarget } from '../rds/target';
import type { AccessReview } from './access-review';
import type { ReviewDeps } from './run-review';

/** One repair the reconcile made or left: only ever a removal of access. */
export interface Repair {
  target: string;
  dbUser: string;
  principalArn: string;
  policyArn: string;
  resourceArn: string;
  /** removed: the statement is gone; absent: someone removed it first; kept: the user exists again (DriftChanged). */
  outcome: 'removed' | 'absent' | 'kept';
  reason?: string;
}

export type RepairDeps = ReviewDeps & { grants: GrantDeps };

/**
 * Removes the project's `rds-db:connect` grants whose database user does not exist (a "dangling-grant": an offboarding
 * that failed between revoking and dropping, or a user dropped by hand). Never adds anything, and touches only
 * grants in policies provably this project's (a "not-project-policy" is reported, never edited).
 *
 * The review is a snapshot; an onboarding may have created that user since. The user is looked for again under the
 * principal's lock (removeConnectGrant's guard): an onboarding adds its grant only after creating the user and only
 * under that lock, so a user missing then cannot get a grant before the removal is written. A user present again
 * keeps its grant (`kept`).
 */
export const repairDanglingGrants = async (deps: RepairDeps, targets: ResolvedTargetConfig[], review: AccessReview, owner: string): Promise<Repair[]> => {
  const repairs: Repair[] = [];
  for (const reviewed of review.targets) {
    const dangling = reviewed.grants.filter(
      (g) => g.flags.includes('dangling-grant') && g.principalArn !== undefined && !g.flags.includes('not-project-policy'),
    );
    if (!dangling.length) continue;
    const target = targets.find((t) => t.name === reviewed.target);
    if (!target) continue;
    const db = await describeTarget(deps.rds(target.region), target);
    // A policy can hold the same grant twice over (two slots); one removal per principal and user covers both.
    const seen = new Set<string>();
    for (const g of dangling) {
      const principal = parsePrincipalArn(g.principalArn);
      const resourceArn = dbUserResourceArn({ ...db, dbUser: g.dbUser });
      if (seen.has(`${principal.arn} ${resourceArn}`)) continue;
      seen.add(`${principal.arn} ${resourceArn}`);
      const base = { target: target.name, dbUser: g.dbUser, principalArn: principal.arn, policyArn: g.policyArn, resourceArn };
      const stillMissing = async (): Promise<void> => {
        const now = await deps.database.review({ target, db }, [g.dbUser]);
        if (now.existing.includes(g.dbUser))
          throw new ProvisioningError('DriftChanged', `database user "${g.dbUser}" on target "${target.name}" exists again: its grant is kept`);
      };
      try {
        const removal = await removeConnectGrant(deps.grants, principal, resourceArn, owner, stillMissing);
        repairs.push({ ...base, outcome: removal.outcome });
      } catch (e) {
        if (!isProvisioningError(e, 'DriftChanged')) throw e;
        repairs.push({ ...base, outcome: 'kept', reason: e.message });
      }
    }
  }
  return repairs;
};
