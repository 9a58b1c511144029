import type { RDSClient } from '@aws-sdk/client-rds';
import { rdsClient } from '../core/clients';
import { type Config, loadConfig, type ResolvedTargetConfig, resolveTargetConfig } from '../core/config';
import { invalid, isProvisioningError, ProvisioningError } from '../core/errors';
import { describeTarget, type ResolvedTarget } from '../rds/target';
import { type OnboardRequest, onboardInputOf, offboardInputOf, validateOffboardRequest, validateOnboardRequest } from '../core/requests';
import type { OffboardState, OnboardState } from './steps';

/**
 * Every step checks what it acts on (DESIGN principle 8). A step's input is a claim: whoever can invoke the
 * function directly can write any state, and the Validate step's word is not proof. So each step takes
 *  - the target's settings from its own configuration, by name (never the copy in the input: its admin secret,
 *    TLS mode, allow-lists and IAM-auth mode are configuration, not input);
 *  - what the target is from RDS (resource id, Region, account, endpoint): the host the admin password goes to and
 *    the resource an `rds-db:connect` statement names are never read from the input;
 *  - the request validated again with the rules the Validate step applies (allow-listed roles and databases,
 *    protected names, principal in the target's account).
 * A claim that disagrees with what RDS says is refused as a ValidationError, before anything changes.
 */
export interface StepInputDeps {
  config: () => Config;
  rds: (region: string) => RDSClient;
}

const defaultDeps: StepInputDeps = { config: loadConfig, rds: rdsClient };

const noTargetName = () => invalid('target.name', 'is required: a step acts only on a target of the configuration, named by target.name');

const targetNameOf = (claimed: unknown): string => {
  const name = typeof claimed === 'object' && claimed !== null ? (claimed as { name?: unknown }).name : undefined;
  if (typeof name !== 'string' || name.length === 0) throw noTargetName();
  return name;
};

/** The target's configuration, by the name the input gives. */
export const configuredTarget = (claimed: unknown, deps: StepInputDeps = defaultDeps): ResolvedTargetConfig =>
  resolveTargetConfig(deps.config(), targetNameOf(claimed));

/**
 * Executions started before the grant steps were given the target (their definition passes them only the request and
 * what RDS said) still finish after a redeploy: the configured target is the one with that kind, identifier and
 * Region, and is checked against RDS like any other.
 */
const targetDescribedBy = (claimed: Partial<ResolvedTarget>, deps: StepInputDeps): ResolvedTargetConfig => {
  const config = deps.config();
  const matches = Object.keys(config.targets)
    .map((name) => resolveTargetConfig(config, name))
    .filter((t) => t.kind === claimed.kind && t.identifier === claimed.identifier && t.region === claimed.region);
  if (matches.length !== 1) throw noTargetName();
  return matches[0];
};

/**
 * The target as configured and as RDS reports it now; refused when the input's resource id is not RDS's. The input
 * names a resource id that the run saw (an approval, a grant): a target replaced since is a different database.
 */
export const verifiedTarget = async (
  state: { target?: unknown; db?: unknown },
  deps: StepInputDeps = defaultDeps,
): Promise<{ target: ResolvedTargetConfig; db: ResolvedTarget }> => {
  const claimed = typeof state.db === 'object' && state.db !== null ? (state.db as Partial<ResolvedTarget>) : {};
  const target = state.target === undefined ? targetDescribedBy(claimed, deps) : configuredTarget(state.target, deps);
  if (typeof claimed.resourceId !== 'string')
    throw invalid('db.resourceId', `is required: the resource id of ${target.kind} ${target.identifier} as resolved by this run`);
  // Described anew by every step (one RDS read each): a cached answer would miss a target replaced in between.
  const db = await describeTarget(deps.rds(target.region), target);
  if (db.resourceId !== claimed.resourceId) {
    throw invalid(
      'db.resourceId',
      `"${claimed.resourceId}" is not the resource id RDS reports for ${target.kind} ${target.identifier} ` +
        `of target "${target.name}" (${db.resourceId}); the target was replaced since this run resolved it, ` +
        `or the input is forged: start a new request`,
    );
  }
  return { target, db };
};

/** Re-validation failures say they are about the step's input, keeping the code and the field. */
const asStepInput = <T>(fn: () => T): T => {
  try {
    return fn();
  } catch (e) {
    if (isProvisioningError(e)) throw new ProvisioningError(e.code, `step input: ${e.message}`, e.details ? { details: e.details } : undefined);
    throw e;
  }
};

/** IAM unique ids: AROA… for roles, AIDA… for users (IAM documents the prefixes; the rest is upper-case base32-like). */
const PRINCIPAL_ID = /^(AROA|AIDA)[A-Z0-9]{12,124}$/;

/**
 * The principal's unique id is read from IAM by the Validate step; later steps keep it only in its IAM shape, and
 * AllowConnect checks it against IAM again before it grants (the database steps cannot reach IAM).
 */
const principalIdOf = (request: Partial<OnboardRequest> | undefined): { principalId?: string } => {
  const id: unknown = request?.principalId;
  if (id === undefined) return {};
  if (typeof id !== 'string' || !PRINCIPAL_ID.test(id))
    throw invalid('request.principalId', 'must be an IAM unique id (AROA… or AIDA…), as the Validate step reads it from IAM');
  return { principalId: id };
};

/** The lease holder is checked where it is used (db-user-lease.ts). */
const executionOf = (claimed: { execution?: unknown }): { execution?: string } =>
  typeof claimed.execution === 'string' ? { execution: claimed.execution } : {};

export const verifyOnboardState = async (claimed: OnboardState, deps: StepInputDeps = defaultDeps): Promise<OnboardState> => {
  const { target, db } = await verifiedTarget(claimed, deps);
  const { request } = asStepInput(() => validateOnboardRequest(onboardInputOf(claimed.request, target.name), deps.config()));
  return { request: { ...request, ...principalIdOf(claimed.request) }, target, db, ...executionOf(claimed) };
};

export const verifyOffboardState = async (claimed: OffboardState, deps: StepInputDeps = defaultDeps): Promise<OffboardState> => {
  const { target, db } = await verifiedTarget(claimed, deps);
  const { request } = asStepInput(() => validateOffboardRequest(offboardInputOf(claimed.request, target.name), deps.config()));
  return { request, target, db, ...executionOf(claimed) };
};
