import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { mapAwsError } from '../core/aws-errors';
import { isErrorCode, ProvisioningError } from '../core/errors';
import type { DbPlanAnswer, DbPlanInvocation } from '../workflows/database-plan';
import type { DatabasePlanner } from '../workflows/request-plan';

/** Invokes the database plan function synchronously; its refusals keep their codes and details. */
const invoke = async <T>(lambda: LambdaClient, functionName: string, invocation: DbPlanInvocation): Promise<T> => {
  let answer: DbPlanAnswer<T>;
  try {
    const out = await lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(invocation)) }));
    const payload = JSON.parse(new TextDecoder().decode(out.Payload)) as DbPlanAnswer<T> & { errorType?: string; errorMessage?: string };
    if (out.FunctionError) {
      // A typed error (a busy target, say) keeps its code; anything else is the function's own failure.
      throw new ProvisioningError(
        isErrorCode(payload.errorType) ? payload.errorType : 'DatabaseError',
        `dry run in the database failed: ${payload.errorMessage ?? out.FunctionError}`,
      );
    }
    answer = payload;
  } catch (e) {
    return mapAwsError(e, 'dry run in the database');
  }
  if ('error' in answer) {
    const code = isErrorCode(answer.error.error) ? answer.error.error : 'DatabaseError';
    throw new ProvisioningError(code, answer.error.message, answer.error.details ? { details: answer.error.details } : undefined);
  }
  return answer.result;
};

export const lambdaDatabasePlanner = (lambda: LambdaClient, functionName: string): DatabasePlanner => ({
  onboarding: (state) => invoke(lambda, functionName, { kind: 'onboarding', state }),
  offboarding: (state) => invoke(lambda, functionName, { kind: 'offboarding', state }),
  review: (state, dbUsers) => invoke(lambda, functionName, { kind: 'review', state, dbUsers }),
  databases: (state, databases) => invoke(lambda, functionName, { kind: 'databases', state, databases }),
});
