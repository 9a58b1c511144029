import { type AccessRequest, effectiveState } from './lifecycle';

/** A request as the API shows it: the state a reader must take (deadlines applied), the votes, the deadlines, the timeline. */
export const accessRequestView = (r: AccessRequest, now: Date) => {
  const status = effectiveState(r, now);
  const count = (d: 'approve' | 'deny') => r.votes.filter((v) => v.decision === d && !v.voided).length;
  return {
    requestId: r.requestId,
    status,
    // The record lags its deadline until the sweeper writes it: say so rather than hide either.
    ...(status !== r.state ? { recordedState: r.state } : {}),
    policy: r.policy,
    approvals: { required: r.required, approved: count('approve'), denyThreshold: r.denyThreshold, denied: count('deny') },
    planHash: r.planHash,
    plan: r.plan,
    duration: r.duration,
    requestedBy: r.requestedBy,
    subject: r.subject,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    ...(r.ticket !== undefined ? { ticket: r.ticket } : {}),
    ...(r.endReason !== undefined ? { endReason: r.endReason } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.extendsRequest !== undefined ? { extendsRequest: r.extendsRequest } : {}),
    // The proof that access ended: what the database and IAM said after the end.
    ...(r.proof !== undefined ? { proof: r.proof } : {}),
    deadlines: {
      approvalExpiresAt: r.approvalExpiresAt,
      ...(r.startAt !== undefined ? { startAt: r.startAt } : {}),
      ...(r.expiresAt !== undefined ? { expiresAt: r.expiresAt } : {}),
    },
    createdAt: r.createdAt,
    ...(r.approvedAt !== undefined ? { approvedAt: r.approvedAt } : {}),
    votes: r.votes,
    timeline: r.timeline,
    location: `/access-requests/${encodeURIComponent(r.requestId)}`,
  };
};
