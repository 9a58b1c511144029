import { Logger } from '@aws-lambda-powertools/logger';
import { ProvisioningError } from './errors';
import { emitMetrics, type MetricPoint } from './metrics';

export const logger = new Logger({ serviceName: 'rds-iam-access' });

export const requestIdOf = (event: unknown): string | undefined => {
  const e = event as
    | { requestId?: unknown; request?: { requestId?: unknown }; state?: { request?: { requestId?: unknown } }; detail?: { name?: unknown } }
    | undefined;
  // Step inputs carry it; a Step Functions status change names the execution, whose name is the request id.
  const id = e?.request?.requestId ?? e?.state?.request?.requestId ?? e?.requestId ?? e?.detail?.name;
  return typeof id === 'string' ? id : undefined;
};

/**
 * Wraps a step's domain function as a Lambda handler: JSON logs carrying the request id,
 * one line per outcome. Errors are rethrown as they are: their name is what the state
 * machine's Retry/Catch match. Inputs are not logged whole; nothing secret is in them anyway.
 * `measure` names the metrics a succeeded step's output proves (sessions ended, objects moved, ...): emitted once,
 * here, after the step's work is done; a metric that cannot be written is logged and never fails the step.
 */
export const stepHandler =
  <I, O>(step: string, fn: (input: I) => Promise<O>, measure?: (output: O, input: I) => MetricPoint[]) =>
  async (input: I): Promise<O> => {
    logger.resetKeys();
    logger.appendKeys({ step, requestId: requestIdOf(input) });
    try {
      const output = await fn(input);
      logger.info('step succeeded', { output: output as Record<string, unknown> });
      if (measure) {
        try {
          emitMetrics(measure(output, input));
        } catch (e) {
          logger.error('metrics not written', e as Error);
        }
      }
      return output;
    } catch (e) {
      if (e instanceof ProvisioningError) logger.warn('step failed', { error: e.code, errorMessage: e.message, retryable: e.retryable });
      else logger.error('step failed unexpectedly', e as Error);
      throw e;
    }
  };
