import { createHash } from 'node:crypto';
import { CreateScheduleCommand, DeleteScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { isAwsError, mapAwsError } from '../core/aws-errors';

/**
 * Long waits are schedules, not executions (issue 15): an EventBridge Scheduler one-time schedule per deadline, whose
 * target starts the execution that acts on it, named by the request id. A redeploy changes neither the schedule nor
 * the execution it starts, and the deadline itself is the record's (the schedule only wakes someone up: the sweeper
 * does the same for a schedule that was lost).
 */
export interface ScheduleDeps {
  scheduler: SchedulerClient;
  /** The stack's schedule group (one per stack, so a removal of the stack removes its schedules). */
  group: string;
  /** The role Scheduler assumes to start executions (states:StartExecution on the stack's machines only). */
  roleArn: string;
}

/** What a schedule does when due: start `machineArn`'s execution `name` with `input` (a second start is a no-op). */
export interface ScheduledStart {
  purpose: 'activate' | 'end';
  requestId: string;
  at: Date;
  machineArn: string;
  executionName: string;
  input: Record<string, unknown>;
}

/** Scheduler's universal target for StartExecution: the only one that lets the schedule name the execution. */
const START_EXECUTION = 'arn:aws:scheduler:::aws-sdk:sfn:startExecution';
/** Schedule names: 1-64 of [0-9a-zA-Z-_.]; request ids may have 80 characters. */
const NAME_MAX = 64;

/** One schedule per request and purpose, deterministic, so a retried creation finds its own schedule (ConflictException). */
export const scheduleName = (requestId: string, purpose: ScheduledStart['purpose']): string => {
  const name = `${requestId}.${purpose}`;
  if (name.length <= NAME_MAX) return name;
  const tail = `..${createHash('sha256').update(requestId).digest('hex').slice(0, 16)}.${purpose}`;
  return `${requestId.slice(0, NAME_MAX - tail.length)}${tail}`;
};

/** at() takes seconds and no zone (the zone is ScheduleExpressionTimezone): a deadline is never rounded earlier than it is. */
const atExpression = (at: Date): string => `at(${new Date(Math.ceil(at.getTime() / 1000) * 1000).toISOString().slice(0, 19)})`;

export const createSchedule = async (deps: ScheduleDeps, s: ScheduledStart): Promise<{ name: string; created: boolean }> => {
  const name = scheduleName(s.requestId, s.purpose);
  try {
    await deps.scheduler.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: deps.group,
        ScheduleExpression: atExpression(s.at),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Description: `${s.purpose} of access request ${s.requestId}`,
        Target: {
          Arn: START_EXECUTION,
          RoleArn: deps.roleArn,
          Input: JSON.stringify({ StateMachineArn: s.machineArn, Name: s.executionName, Input: JSON.stringify(s.input) }),
          // Scheduler's maximum: a target that keeps failing for a day is left to the sweeper.
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
        },
      }),
    );
    return { name, created: true };
  } catch (e) {
    // A retry of this step: the schedule of this request and purpose exists already.
    if (isAwsError(e, 'ConflictException')) return { name, created: false };
    return mapAwsError(e, `schedule the ${s.purpose} of access request ${s.requestId}`);
  }
};

/** Deletes a schedule that is no longer needed (the request ended early); one that already fired or is gone is fine. */
export const deleteSchedule = async (deps: ScheduleDeps, requestId: string, purpose: ScheduledStart['purpose']): Promise<boolean> => {
  try {
    await deps.scheduler.send(new DeleteScheduleCommand({ Name: scheduleName(requestId, purpose), GroupName: deps.group }));
    return true;
  } catch (e) {
    if (isAwsError(e, 'ResourceNotFoundException')) return false;
    return mapAwsError(e, `delete the ${purpose} schedule of access request ${requestId}`);
  }
};
