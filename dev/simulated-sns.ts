import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

/**
 * A SIMULATION of SNS Publish (the alarm topic), for tests and local mode: messages are kept in
 * order, as a subscriber would get them. Plugged in at the SDK boundary; never deployed.
 */
export interface PublishedMessage {
  topicArn: string;
  subject?: string;
  message: string;
  messageId: string;
}

export class SimulatedSns {
  readonly published: PublishedMessage[] = [];

  install(): AwsClientStub<SNSClient> {
    const m = mockClient(SNSClient);
    m.on(PublishCommand).callsFake(async (i: { TopicArn?: string; Subject?: string; Message?: string }) => {
      // SNS refuses what the real service refuses, so a message that would bounce in AWS fails here too.
      if (!i.TopicArn) throw new Error('InvalidParameter: TopicArn is required');
      if (!i.Message) throw new Error('InvalidParameter: Message is empty');
      if (i.Subject !== undefined && (i.Subject.length > 100 || /[\r\n]/.test(i.Subject) || !/^[\x20-\x7e]*$/.test(i.Subject))) {
        throw new Error('InvalidParameter: Subject must be ASCII, at most 100 characters, without line breaks');
      }
      const messageId = `sim-${this.published.length + 1}`;
      this.published.push({ topicArn: i.TopicArn, ...(i.Subject !== undefined ? { subject: i.Subject } : {}), message: i.Message, messageId });
      return { MessageId: messageId, $metadata: {} };
    });
    return m;
  }
}
