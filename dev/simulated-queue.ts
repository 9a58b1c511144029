import { randomUUID } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';

/**
 * A SIMULATION of an SQS queue and the Lambda event source mapping that drains it (batch size 1,
 * `ScalingConfig.MaximumConcurrency`), as the database limiter uses them: at most `maxConcurrency`
 * invocations at once; a message is hidden while an invocation holds it and deleted when that
 * invocation returns; an invocation that fails, is throttled or outlives the function's timeout ends
 * (its slot frees at once, as Lambda ends it) and its message is delivered again once the visibility
 * timeout since its receipt has passed. Never deployed.
 */
export interface QueueTriggerOptions {
  maxConcurrency: number;
  /** The queue's VisibilityTimeout: a received message stays hidden this long unless deleted. */
  visibilityTimeoutMs: number;
  /** The function's timeout: Lambda ends an invocation that runs longer. */
  functionTimeoutMs: number;
}

export interface QueueTriggerStats {
  sent: number;
  deliveries: number;
  /** Deliveries of a message an earlier invocation did not finish (failed, throttled, timed out). */
  redeliveries: number;
  timeouts: number;
  peakInflight: number;
  /** Most messages waiting at once: the backlog the limiter absorbed. */
  peakBacklog: number;
}

interface Message {
  id: string;
  body: string;
  receiveCount: number;
}

type Outcome = 'deleted' | 'failed' | 'timeout';

export class SimulatedQueueTrigger {
  readonly stats: QueueTriggerStats = { sent: 0, deliveries: 0, redeliveries: 0, timeouts: 0, peakInflight: 0, peakBacklog: 0 };
  private readonly visible: Message[] = [];
  private inflight = 0;

  constructor(
    private readonly invoke: (event: SQSEvent) => Promise<unknown>,
    private readonly opts: QueueTriggerOptions,
  ) {}

  send(body: string): void {
    this.visible.push({ id: randomUUID(), body, receiveCount: 0 });
    this.stats.sent++;
    this.stats.peakBacklog = Math.max(this.stats.peakBacklog, this.visible.length);
    this.pump();
  }

  private pump(): void {
    while (this.inflight < this.opts.maxConcurrency) {
      const message = this.visible.shift();
      if (!message) return;
      this.inflight++;
      this.stats.peakInflight = Math.max(this.stats.peakInflight, this.inflight);
      void this.deliver(message);
    }
  }

  private async deliver(message: Message): Promise<void> {
    const receivedAt = Date.now();
    message.receiveCount++;
    this.stats.deliveries++;
    if (message.receiveCount > 1) this.stats.redeliveries++;
    const event: SQSEvent = {
      Records: [
        {
          messageId: message.id,
          receiptHandle: `${message.id}/${message.receiveCount}`,
          body: message.body,
          attributes: {
            ApproximateReceiveCount: String(message.receiveCount),
            SentTimestamp: String(receivedAt),
            SenderId: 'states.amazonaws.com',
            ApproximateFirstReceiveTimestamp: String(receivedAt),
          },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:local:000000000000:simulated',
          awsRegion: 'local',
        },
      ],
    };
    let timer: NodeJS.Timeout | undefined;
    // An invocation that ends after its timeout is no longer awaited: Lambda would have stopped it.
    const run = this.invoke(event).then(
      (): Outcome => 'deleted',
      (): Outcome => 'failed',
    );
    const timedOut = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.opts.functionTimeoutMs);
    });
    const outcome = await Promise.race([run, timedOut]);
    clearTimeout(timer);
    this.inflight--;
    if (outcome === 'timeout') this.stats.timeouts++;
    if (outcome !== 'deleted') {
      setTimeout(
        () => {
          this.visible.unshift(message);
          this.pump();
        },
        Math.max(0, receivedAt + this.opts.visibilityTimeoutMs - Date.now()),
      );
    }
    this.pump();
  }
}
