import type { ResolvedTargetConfig } from './config';
import type { ResolvedTarget } from './rds';
import type { OffboardRequest, OnboardRequest } from './requests';

/** The execution state as the onboarding state machine builds it, step by step. */
export interface OnboardState {
  request: OnboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
}

/** The execution state of the offboarding state machine. */
export interface OffboardState {
  request: OffboardRequest;
  target: ResolvedTargetConfig;
  db: ResolvedTarget;
}
