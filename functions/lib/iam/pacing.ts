import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import pThrottle from 'p-throttle';

/**
 * IAM writes at a configured pace. IAM throttles its mutating calls per account, at a rate AWS does not publish
 * and will not raise, and a throttled grant that runs out of retries compensates the whole onboarding. So the grant
 * steps never ask faster than `iam.writesPerSecond`: at most `iam.grantConcurrency` of them run at once (the slots of
 * ConnectAllowQueue), and each spaces its own writes `grantConcurrency / writesPerSecond` seconds apart. Reads (Get*,
 * List*) are not paced: IAM limits them separately and far higher.
 *
 * The pace is per container, kept across warm invocations, so a container that takes the next message continues the
 * spacing instead of starting with a burst. p-throttle (sindresorhus) does the spacing: a call waits for its turn and
 * none is dropped.
 */
const WRITES = [
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  DeletePolicyCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
];

export const isIamWrite = (command: unknown): boolean => WRITES.some((c) => command instanceof c);

export interface Pace {
  /** Resolves when the next write may go. */
  turn: () => Promise<void>;
  /** Milliseconds between two writes of this container. */
  intervalMs: number;
}

export const paceOf = (writesPerSecond: number, concurrency: number): Pace => {
  const intervalMs = (1000 * concurrency) / writesPerSecond;
  return { turn: pThrottle({ limit: 1, interval: intervalMs })(async () => {}), intervalMs };
};

/**
 * The client with its writes paced: the same object for everything else. A wrapper and not SDK middleware, so the
 * pace also holds where tests replace `send` (aws-sdk-client-mock stubs the prototype's send, skipping middleware).
 */
export const pacedIam = (iam: IAMClient, pace: Pace): IAMClient => {
  const paced = Object.create(iam) as IAMClient;
  const send = async (command: Parameters<IAMClient['send']>[0], ...rest: unknown[]): Promise<unknown> => {
    if (isIamWrite(command)) await pace.turn();
    return (iam.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
  };
  paced.send = send as IAMClient['send'];
  return paced;
};
