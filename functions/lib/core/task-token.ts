import { InvalidToken, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import { logger } from './logger';
import type { SQSEvent } from 'aws-lambda';
import { sfnClient } from './clients';

/**
 * The database limiter's consumer side. A step that needs an admin connection is not invoked by the
 * state machine: the state sends its input to a queue (`sqs:sendMessage.waitForTaskToken`) and waits,
 * and the queue's event source mapping invokes the function at most `dbConcurrency` at a time. Waiting
 * is a message in a queue, not a throttled invocation, so it costs no retry and no transition, and no
 * budget runs out; a slot is an invocation, so a crashed or timed-out holder frees it when Lambda ends
 * it, and its message is delivered again once the visibility timeout has passed (the step is idempotent).
 */
export interface TaskTokenMessage<I> {
  taskToken: string;
  input: I;
}

/** Step Functions' limits on SendTaskFailure's fields. */
const ERROR_MAX = 256;
const CAUSE_MAX = 32_768;

/** Caps a string at `max` characters: Step Functions refuses longer fields rather than truncating them. */
const capped = (s: string, max: number): string => (s.length > max ? s.slice(0, max) : s);

/**
 * An SQS handler (batch size 1) that runs `step` on the message's input and answers the waiting state:
 * SendTaskSuccess with the output, or SendTaskFailure with the error's name (what Retry and Catch
 * match, as for a Lambda task) and a Lambda-shaped cause.
 */
export const taskTokenConsumer =
  <I, O>(step: (input: I) => Promise<O>) =>
  async (event: SQSEvent): Promise<void> => {
    for (const record of event.Records) {
      const { taskToken, input } = JSON.parse(record.body) as TaskTokenMessage<I>;
      // Is anyone still waiting? A message can come again after its state was answered or ended (SQS delivers at least
      // once; a copy can outlive a stopped or timed-out execution): run then, the step would act for nobody, e.g. put
      // a grant back after the user's offboarding. Step Functions answers a closed task's heartbeat with TaskTimedOut.
      try {
        await sfnClient().send(new SendTaskHeartbeatCommand({ taskToken }));
      } catch (e) {
        if (e instanceof TaskTimedOut || e instanceof InvalidToken || e instanceof TaskDoesNotExist) {
          logger.warn('limiter message skipped: its state no longer waits', { messageId: record.messageId, error: (e as Error).name });
          continue;
        }
        throw e;
      }
      let outcome: { output: O } | { error: Error };
      try {
        outcome = { output: await step(input) };
      } catch (e) {
        outcome = { error: e instanceof Error ? e : new Error(String(e)) };
      }
      try {
        if ('output' in outcome) await sfnClient().send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(outcome.output) }));
        else {
          const { name, message } = outcome.error;
          await sfnClient().send(
            new SendTaskFailureCommand({
              taskToken,
              error: capped(name, ERROR_MAX),
              cause: capped(JSON.stringify({ errorType: name, errorMessage: message }), CAUSE_MAX),
            }),
          );
        }
      } catch (e) {
        // The state no longer waits (the execution stopped or timed out, or an earlier delivery answered it):
        // there is no one to tell. Anything else is thrown, so SQS delivers the message again.
        if (e instanceof TaskTimedOut || e instanceof InvalidToken || e instanceof TaskDoesNotExist) continue;
        throw e;
      }
    }
  };
