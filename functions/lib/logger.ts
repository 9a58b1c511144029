import { Logger } from '@aws-lambda-powertools/logger';
import { ProvisioningError } from './errors';

export const logger = new Logger({ serviceName: 'rds-iam-access' });

export const requestIdOf = (event: unknown): string | undefined => {
  const e = event as { requestId?: unknown; request?: { requestId?: unknown }; state?: { request?: { requestId?: unknown } }; detail?: { name?: unknown } } | undefined;
  // Step inputs carry it; a Step Functions status change names the execution, whose name is the request id.
  const id = e?.request?.requestId ?? e?.state?.request?.requestId ?? e?.requestId ?? e?.detail?.name;
  return typeof id === 'string' ? id : undefined;
};

/**
 * Wraps a step's domain function as a Lambda handler: JSON logs carrying the request id,
 * one line per outcome. Errors are rethrown as they are: their name is what the state
 * machine's Retry/Catch match. Inputs are not logged whole; nothing secret is in them anyway.
 */
export const stepHandler =
  <I, O>(step: string, fn: (input: I) => Promise<O>) =>
  async (input: I): Promise<O> => {
    logger.resetKeys();
    logger.appendKeys({ step, requestId: requestIdOf(input) });
    try {
      const output = await fn(input);
      logger.info('step succeeded', { output: output as Record<string, unknown> });
      return output;
    } catch (e) {
      if (e instanceof ProvisioningError) logger.warn('step failed', { error: e.code, errorMessage: e.message, retryable: e.retryable });
      else logger.error('step failed unexpectedly', e as Error);
      throw e;
    }
  };
