import type { PrincipalArn } from './arn';
import type { ResolvedTargetConfig } from './config';
import type { OnboardRequest } from './requests';
import type { ResolvedTarget } from './rds';

/** The execution state as the onboarding state machine builds it, step by step. */
export interface OnboardState {
  request: OnboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
}

export type { PrincipalArn };

/** The execution state of the offboarding state machine. */
export interface OffboardState {
  request: import('./requests').OffboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
}
