import { type IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import type { PrincipalArn } from '../core/arn';
import { isAwsError, mapAwsError } from '../core/aws-errors';
import { PRINCIPAL_NOT_FOUND } from './grants';

/** IAM's own answer to "may this principal connect as this database user", from its policy simulator. */
export interface ConnectCheck {
  principalArn: string;
  resourceArn: string;
  /** allowed, explicitDeny or implicitDeny, as IAM names them; principalGone when IAM knows no such principal. */
  decision: string;
  /** The policies whose statements allow it (IAM's SourcePolicyId): empty unless allowed. */
  allowedBy: string[];
}

/**
 * Asks IAM (iam:SimulatePrincipalPolicy over the principal's identity policies and permissions boundary) whether the
 * principal may still rds-db:connect to the resource: the proof that an end removed the access, asked of IAM instead
 * of read back from the policy this project wrote, so a statement anyone else added is found too. Service control
 * policies and session policies are not part of it (IAM's simulator does not see them).
 */
export const simulateConnect = async (iam: IAMClient, principal: PrincipalArn, resourceArn: string): Promise<ConnectCheck> => {
  try {
    const allowedBy = new Set<string>();
    let decision = 'implicitDeny';
    let Marker: string | undefined;
    do {
      const page = await iam.send(
        new SimulatePrincipalPolicyCommand({ PolicySourceArn: principal.arn, ActionNames: ['rds-db:connect'], ResourceArns: [resourceArn], Marker }),
      );
      for (const r of page.EvaluationResults ?? []) {
        if (r.EvalDecision === 'explicitDeny' || (r.EvalDecision === 'allowed' && decision !== 'explicitDeny')) decision = r.EvalDecision;
        if (r.EvalDecision === 'allowed') for (const s of r.MatchedStatements ?? []) if (s.SourcePolicyId) allowedBy.add(s.SourcePolicyId);
      }
      Marker = page.IsTruncated ? page.Marker : undefined;
    } while (Marker);
    return { principalArn: principal.arn, resourceArn, decision, allowedBy: decision === 'allowed' ? [...allowedBy].sort() : [] };
  } catch (e) {
    // A principal that no longer exists can connect as nobody: that is the answer, not a failure (the usual case of a
    // person removed by the identity provider).
    if (isAwsError(e, ...Object.keys(PRINCIPAL_NOT_FOUND))) return { principalArn: principal.arn, resourceArn, decision: 'principalGone', allowedBy: [] };
    return mapAwsError(e, `simulate rds-db:connect of ${principal.arn} on ${resourceArn}`);
  }
};
