import { matchesArnPatterns } from '../core/arn';
import type { ApprovalPolicy, Config } from '../core/config';
import { durationMs, formatDuration, parseDuration } from '../core/durations';
import { invalid } from '../core/errors';

const hasApprovers = (p: ApprovalPolicy): boolean => p.approvers.length > 0 || p.approverGroups.length > 0;

/** Who acts on a request: the caller as SigV4 reports it, its IAM role or user (without path), its Identity Center groups. */
export interface Party {
  arn: string;
  /** Absent for identities without a role or user of their own (the account root, federated users). */
  principal?: string;
  /** Identity Center group ids, when the caller's groups were looked up; absent: nobody is approver by group. */
  groups?: readonly string[];
}

/** A policy that governs a request, and whether its auto-approval may apply (it covers every role asked for). */
export interface MatchedPolicy {
  policy: ApprovalPolicy;
  autoApprovable: boolean;
}

/**
 * The policy that governs a request for `roles` on `target`, if any. A policy that names dbRoles governs a request
 * asking for any of them. Policies with approvers come before auto-approve-only ones (each group in file order), so
 * an auto-approval can never wave through a request another policy wants reviewed; and it applies only when the
 * policy covers every role asked for (a policy for read roles does not auto-approve a request that adds a write role).
 */
export const matchPolicy = (config: Config, target: string, roles: readonly string[]): MatchedPolicy | undefined => {
  const on = config.approvalPolicies.filter(
    (p) => p.match.targets.includes(target) && (p.match.dbRoles === undefined || roles.some((r) => p.match.dbRoles?.includes(r))),
  );
  const policy = on.find(hasApprovers) ?? on[0];
  if (!policy) return undefined;
  const covers = policy.match.dbRoles === undefined || roles.every((r) => policy.match.dbRoles?.includes(r));
  return { policy, autoApprovable: policy.autoApprove !== undefined && covers };
};

export const policyNamed = (config: Config, name: string): ApprovalPolicy | undefined => config.approvalPolicies.find((p) => p.name === name);

/** What a request under a policy asks for, checked against it: its duration (default the policy's) and its reason. */
export const checkAgainstPolicy = (
  { policy, autoApprovable }: MatchedPolicy,
  asked: { duration?: unknown; reason?: string; dbRoles: readonly string[] },
): { duration: string; durationMs: number; autoApproved: boolean } => {
  if (!hasApprovers(policy) && !autoApprovable)
    throw invalid(
      'dbRoles',
      `approval policy "${policy.name}" names no approvers and auto-approves ` +
        `only ${policy.match.dbRoles?.join(', ')}: ask for the other roles ` +
        `(${asked.dbRoles.filter((r) => !policy.match.dbRoles?.includes(r)).join(', ')}) in a request ` +
        `of their own`,
    );
  const duration = asked.duration === undefined ? policy.defaultDuration : asked.duration;
  const parsed = parseDuration(duration);
  if ('problem' in parsed) throw invalid('duration', `${parsed.problem}, not ${JSON.stringify(duration)}`);
  // Without approvers, nobody could approve what the auto-approval does not cover.
  const longest = !hasApprovers(policy) && policy.autoApprove ? policy.autoApprove.maxDuration : policy.maxDuration;
  if (parsed.ms > durationMs(longest)) throw invalid('duration', `"${duration}" is longer than approval policy "${policy.name}" allows (at most ${longest})`);
  const { required, pattern } = policy.reason;
  if (required && (asked.reason === undefined || asked.reason.trim() === ''))
    throw invalid('reason', `is required by approval policy "${policy.name}"${pattern ? ` and must match ${pattern}` : ''}`);
  if (pattern !== undefined && asked.reason !== undefined && !new RegExp(pattern).test(asked.reason))
    throw invalid('reason', `must match ${pattern} (approval policy "${policy.name}"), not ${JSON.stringify(asked.reason)}`);
  const autoApproved = autoApprovable && policy.autoApprove !== undefined && parsed.ms <= durationMs(policy.autoApprove.maxDuration);
  return { duration: formatDuration(parsed.ms), durationMs: parsed.ms, autoApproved };
};

/** Whether the party is one of the policy's approvers now (the configuration as it is at the decision, not at the request). */
export const isApprover = (policy: ApprovalPolicy, party: Party): boolean =>
  matchesArnPatterns([party.arn, party.principal], policy.approvers) || (party.groups ?? []).some((g) => policy.approverGroups.includes(g));
