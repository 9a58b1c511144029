import { mapAwsError } from '../core/aws-errors';
import { ProvisioningError } from '../core/errors';
import type { AccessReview } from '../review/access-review';
import type { DriftItem } from '../review/drift';
import type { Repair } from '../review/repair';
import { type ArchiveStore, putIfAbsent, redactSecrets } from './archive';

/** One scheduled access review, as archived beside the execution histories (same bucket, same retention). */
export const REVIEW_SCHEMA = 'rds-iam-access/access-review/v1';
export const REVIEW_PREFIX = 'reviews/';

export interface ReviewReport {
  schema: typeof REVIEW_SCHEMA;
  review: AccessReview;
  drift: DriftItem[];
  /** What the repair removed (or found removed, or kept): empty when repair is off. */
  repairs: Repair[];
  repair: { removeDanglingGrants: boolean };
}

/** By the review's time: one document per run, never overwritten by a later one. */
export const reviewKey = (generatedAt: string): string => `${REVIEW_PREFIX}${generatedAt}.json`;

export const writeReviewReport = async (store: ArchiveStore, report: ReviewReport): Promise<string> => {
  const key = reviewKey(report.review.generatedAt);
  let written: boolean;
  try {
    written = await putIfAbsent(store, key, JSON.stringify(redactSecrets(report)));
  } catch (e) {
    return mapAwsError(e, `archive ${key}`);
  }
  // Another review of the same millisecond: its report stays. Lambda's retry makes a review of its own, with its own key.
  if (!written) throw new ProvisioningError('TransientAwsError', `${key} is archived already (another review of the same moment): it is not overwritten`);
  return key;
};
