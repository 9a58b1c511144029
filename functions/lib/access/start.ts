import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { attemptName } from '../api/attempts';
import { isAwsError, mapAwsError } from '../core/aws-errors';
import { sfnClient } from '../core/clients';
import type { AccessRequest } from './lifecycle';

/** StartExecution that treats a name already used as done: every start of the lifecycle is named, so a repeat is a no-op. */
export const startNamedExecution = async (machineArn: string, name: string, input: Record<string, unknown>): Promise<void> => {
  try {
    await sfnClient().send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input: JSON.stringify(input) }));
  } catch (e) {
    if (isAwsError(e, 'ExecutionAlreadyExists')) return;
    mapAwsError(e, `start execution ${name} of ${machineArn}`);
  }
};

/**
 * The activation execution of a request: named by its id when it follows the approval, `<id>.2` once it waited for
 * its startAt (the first run scheduled it and ended), so whoever starts it (the approval's writer, the schedule, the
 * sweeper) starts one execution.
 */
export const activationExecutionName = (r: Pick<AccessRequest, 'requestId' | 'state'>): string =>
  r.state === 'SCHEDULED' ? attemptName(r.requestId, 2) : r.requestId;
