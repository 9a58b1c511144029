/**
 * A SIMULATION of EventBridge Scheduler one-time schedules (`at(...)` expressions), the way time-bound access ends:
 * CreateSchedule, GetSchedule, DeleteSchedule in schedule groups, ConflictException for a name in use and
 * ResourceNotFoundException for one that is not; a due schedule invokes its universal target
 * (`arn:aws:scheduler:::aws-sdk:sfn:startExecution`, its Input the StartExecution request) through `deliver`, is retried
 * while the target fails, and is deleted after completion (ActionAfterCompletion DELETE).
 * Time: schedules fire when `fireDue(now)` is called with a time past theirs; `start()` calls it on a timer.
 * Faults: `lose(name)` removes a schedule without a trace (what the sweeper is for).
 * NOT modelled: recurring (rate/cron) schedules, time zones other than UTC, flexible time windows, the 185 retries in
 * 24 h and the dead-letter queue (a failing target is retried on every fireDue), throttling, the invocation delay.
 */
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ValidationException,
} from '@aws-sdk/client-scheduler';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { meta, tick } from '../sim-faults';

export interface SimSchedule {
  name: string;
  group: string;
  at: Date;
  target: { Arn: string; RoleArn: string; Input?: string };
  deleteAfterCompletion: boolean;
  /** Failed deliveries so far. */
  failures: number;
}

/** at(yyyy-mm-ddThh:mm:ss), in UTC: the only expression a one-time schedule has. */
const AT = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/;

export class SimulatedScheduler {
  readonly schedules = new Map<string, SimSchedule>();
  /** Every delivery made, in order: what a test asserts on. */
  readonly delivered: Array<{ name: string; at: Date; target: SimSchedule['target'] }> = [];
  private timer?: NodeJS.Timeout;

  /** Invokes a due schedule's target; a rejection leaves the schedule for the next fireDue. */
  constructor(private readonly deliver: (target: SimSchedule['target']) => Promise<unknown>) {}

  private key = (group: string | undefined, name: string): string => `${group ?? 'default'}/${name}`;

  install(): AwsClientStub<SchedulerClient> {
    const m = mockClient(SchedulerClient);
    m.on(CreateScheduleCommand).callsFake(
      async (i: {
        Name: string;
        GroupName?: string;
        ScheduleExpression: string;
        ScheduleExpressionTimezone?: string;
        Target: SimSchedule['target'];
        ActionAfterCompletion?: string;
      }) => {
        await tick();
        const at = AT.exec(i.ScheduleExpression);
        if (!at)
          throw new ValidationException({
            message: `Invalid Schedule Expression ${i.ScheduleExpression}. (only at(...) is simulated)`,
            Message: `Invalid Schedule Expression ${i.ScheduleExpression}. (only at(...) is simulated)`,
            ...meta,
          });
        if (i.ScheduleExpressionTimezone && i.ScheduleExpressionTimezone !== 'UTC')
          throw new ValidationException({ message: 'only UTC is simulated', Message: 'only UTC is simulated', ...meta });
        const key = this.key(i.GroupName, i.Name);
        if (this.schedules.has(key))
          throw new ConflictException({ message: `Schedule ${i.Name} already exists.`, Message: `Schedule ${i.Name} already exists.`, ...meta });
        this.schedules.set(key, {
          name: i.Name,
          group: i.GroupName ?? 'default',
          at: new Date(`${at[1]}Z`),
          target: i.Target,
          deleteAfterCompletion: i.ActionAfterCompletion === 'DELETE',
          failures: 0,
        });
        return { ScheduleArn: `arn:aws:scheduler:eu-west-1:123456789012:schedule/${i.GroupName ?? 'default'}/${i.Name}`, ...meta };
      },
    );
    const find = (i: { Name: string; GroupName?: string }): SimSchedule => {
      const s = this.schedules.get(this.key(i.GroupName, i.Name));
      if (!s) throw new ResourceNotFoundException({ message: `Schedule ${i.Name} does not exist.`, Message: `Schedule ${i.Name} does not exist.`, ...meta });
      return s;
    };
    m.on(GetScheduleCommand).callsFake(async (i: { Name: string; GroupName?: string }) => {
      await tick();
      const s = find(i);
      return { Name: s.name, GroupName: s.group, ScheduleExpression: `at(${s.at.toISOString().slice(0, 19)})`, Target: s.target, State: 'ENABLED', ...meta };
    });
    m.on(DeleteScheduleCommand).callsFake(async (i: { Name: string; GroupName?: string }) => {
      await tick();
      find(i);
      this.schedules.delete(this.key(i.GroupName, i.Name));
      return { ...meta };
    });
    return m;
  }

  /** Delivers every schedule due at `now` (in time order); each is deleted once its target accepted it. */
  async fireDue(now = new Date()): Promise<number> {
    const due = [...this.schedules.entries()].filter(([, s]) => s.at.getTime() <= now.getTime()).sort(([, a], [, b]) => a.at.getTime() - b.at.getTime());
    let fired = 0;
    for (const [key, s] of due) {
      try {
        await this.deliver(s.target);
        this.delivered.push({ name: s.name, at: now, target: s.target });
        fired++;
        if (s.deleteAfterCompletion) this.schedules.delete(key);
      } catch {
        s.failures++;
      }
    }
    return fired;
  }

  /** A schedule gone without a trace (deleted by hand, lost in a redeploy of the group). */
  lose(name: string, group?: string): void {
    this.schedules.delete(this.key(group, name));
  }

  /** Fires due schedules every `everyMs` (local mode); stop() ends it. */
  start(everyMs = 1000): void {
    this.timer ??= setInterval(() => void this.fireDue(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
