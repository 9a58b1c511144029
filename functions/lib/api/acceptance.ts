import { isProvisioningError } from '../core/errors';
import { logger } from '../core/logger';
import type { PlanDeps } from '../workflows/request-plan';
import { type ExecutionsDeps, findRequest } from '../core/executions';

/**
 * The checks a real request passes before its execution starts, beyond validation: those that read the target
 * (request-input.ts `accept`; today the databases an onboarding names must exist). What the check finds missing is
 * refused at once, as the dry run refuses it, instead of failing in the run minutes later. What it cannot find out
 * (the target unreachable or busy, RDS throttling) does not hold the request up: the run checks the same rule when it
 * gets there, with its retries, and the request is accepted.
 *
 * A replay is a read: a request id that already names a run answers with that run (startRequest), whatever the
 * target looks like now, so a refusal here stands only when no execution of that id exists.
 */
export const accepted = async (
  accept: (deps: PlanDeps) => Promise<void>,
  deps: { plan: PlanDeps; executions: ExecutionsDeps },
  requestId: string,
  replayable: boolean,
): Promise<void> => {
  try {
    await accept(deps.plan);
  } catch (e) {
    if (isProvisioningError(e, 'UnknownDatabase')) {
      if (replayable && (await findRequest(deps.executions, requestId))) return;
      throw e;
    }
    logger.warn('request accepted without its target check: the run checks it', {
      requestId,
      error: isProvisioningError(e) ? e.code : (e as Error).name,
      errorMessage: (e as Error).message,
    });
  }
};
