import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { mapAwsError } from '../core/aws-errors';
import type { AccessRequest } from './lifecycle';

/**
 * Every lifecycle change of an access request, published twice: as an EventBridge event on the account's default bus
 * (source `rds-iam-access`, one detail type per change, for rules that page, post or open tickets) and, for what a
 * person must act on or know, to the stack's approvers' SNS topic. The detail types are a contract (README,
 * "Access request events"): renaming one breaks users' rules.
 */
export const EVENT_SOURCE = 'rds-iam-access';

export const DETAIL_TYPES = {
  pending: 'Access Request Pending',
  approved: 'Access Request Approved',
  denied: 'Access Request Denied',
  cancelled: 'Access Request Cancelled',
  approvalExpired: 'Access Request Approval Expired',
  activated: 'Access Request Activated',
  activationFailed: 'Access Request Activation Failed',
  expiring: 'Access Request Expiring',
  ended: 'Access Request Ended',
  endFailed: 'Access Request End Failed',
} as const;
export type LifecycleEvent = keyof typeof DETAIL_TYPES;

/** The changes approvers are told of by SNS as well (the list); the rest only go to EventBridge. */
const TO_APPROVERS: ReadonlySet<LifecycleEvent> = new Set(['pending', 'approved', 'denied', 'expiring', 'ended', 'endFailed']);

export interface NotifyDeps {
  events: EventBridgeClient;
  sns: SNSClient;
  topicArn: string;
}

/** What a rule can match on: no votes' comments, no reason text (they may hold what a ticket system should not get). */
export const eventDetail = (r: AccessRequest, extra: Record<string, unknown> = {}) => ({
  requestId: r.requestId,
  state: r.state,
  policy: r.policy,
  target: r.plan.target,
  dbUser: r.plan.dbUser,
  dbRoles: r.plan.dbRoles,
  principalArn: r.plan.principalArn,
  requestedBy: r.requestedBy,
  ...(r.ticket ? { ticket: r.ticket } : {}),
  approvalExpiresAt: r.approvalExpiresAt,
  ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
  ...(r.endReason ? { endReason: r.endReason } : {}),
  ...(r.error ? { error: r.error.code } : {}),
  ...extra,
});

const subjectOf = (event: LifecycleEvent, r: AccessRequest): string =>
  // SNS: at most 100 characters, ASCII, no line breaks.
  `rds-iam-access: ${DETAIL_TYPES[event].toLowerCase()}: ${r.plan.dbUser} on ${r.plan.target}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);

export const notify = async (deps: NotifyDeps, event: LifecycleEvent, r: AccessRequest, extra: Record<string, unknown> = {}): Promise<void> => {
  const detail = eventDetail(r, extra);
  try {
    const out = await deps.events.send(
      new PutEventsCommand({ Entries: [{ Source: EVENT_SOURCE, DetailType: DETAIL_TYPES[event], Detail: JSON.stringify(detail), Resources: [] }] }),
    );
    // PutEvents answers 200 with per-entry failures: an entry refused is a failed notification, retried by the step.
    if (out.FailedEntryCount)
      throw Object.assign(new Error(`PutEvents refused the event: ${out.Entries?.[0]?.ErrorMessage ?? 'no reason given'}`), { name: 'InternalException' });
    if (TO_APPROVERS.has(event)) {
      await deps.sns.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: subjectOf(event, r),
          Message: JSON.stringify({ event: DETAIL_TYPES[event], ...detail }, null, 2),
        }),
      );
    }
  } catch (e) {
    mapAwsError(e, `publish "${DETAIL_TYPES[event]}" of access request ${r.requestId}`);
  }
};
