import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { mapAwsError } from '../core/aws-errors';
import type { DriftItem } from './drift';
import type { Repair } from './repair';

export interface Notifier {
  sns: SNSClient;
  topicArn: string;
}

/** SNS takes 256 KB; an e-mail is read by a person: the first items, then where the whole report is. */
export const MAX_LISTED_DRIFT = 50;

/** The message the reconcile publishes when it finds drift: what, where, what was repaired, and the archived report. */
export const driftMessage = (drift: DriftItem[], repairs: Repair[], reportKey: string, bucket: string): { subject: string; message: string } => {
  const lines = drift
    .slice(0, MAX_LISTED_DRIFT)
    .map((d) => `- ${d.target} ${d.subject} ${d.dbUser}${d.principalArn ? ` (${d.principalArn})` : ''}: ${d.flags.join(', ')}`);
  const removed = repairs.filter((r) => r.outcome === 'removed');
  return {
    // SNS: at most 100 characters, ASCII, no line breaks.
    subject: `rds-iam-access: access review found ${drift.length} drift item${drift.length === 1 ? '' : 's'}`,
    message: [
      `The scheduled access review found ${drift.length} item${drift.length === 1 ? '' : 's'} that do not match what rds-iam-access made.`,
      '',
      ...lines,
      ...(drift.length > MAX_LISTED_DRIFT ? [`... and ${drift.length - MAX_LISTED_DRIFT} more`] : []),
      '',
      ...(repairs.length
        ? [
            `Repair (removals only): ${removed.length} grant${removed.length === 1 ? '' : 's'} removed, ${repairs.length - removed.length} left as they were.`,
            ...repairs.map((r) => `- ${r.outcome}: ${r.resourceArn} from ${r.principalArn}`),
            '',
          ]
        : []),
      `Full report: s3://${bucket}/${reportKey}`,
      'What each flag means and what to do: README, "Operations".',
    ].join('\n'),
  };
};

export const publishDrift = async (n: Notifier, text: { subject: string; message: string }): Promise<string | undefined> => {
  try {
    const out = await n.sns.send(new PublishCommand({ TopicArn: n.topicArn, Subject: text.subject, Message: text.message }));
    return out.MessageId;
  } catch (e) {
    return mapAwsError(e, 'publish the access review drift to the alarm topic');
  }
};
