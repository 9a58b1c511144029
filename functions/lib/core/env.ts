import type { RequestKind } from './executions';
import { ProvisioningError } from './errors';

/** A setting serverless.yml gives the function; missing means the stack is broken, not the request. */
export const requiredEnv = (name: string, env: NodeJS.ProcessEnv = process.env): string => {
  const v = env[name];
  if (!v) throw new ProvisioningError('ConfigurationError', `${name} is not set`);
  return v;
};

/** The ARNs of this stack's state machines, by the kind of request each runs. */
export const stateMachinesFromEnv = (env: NodeJS.ProcessEnv = process.env): Record<RequestKind, string> => ({
  onboarding: requiredEnv('ONBOARD_STATE_MACHINE_ARN', env),
  offboarding: requiredEnv('OFFBOARD_STATE_MACHINE_ARN', env),
});
