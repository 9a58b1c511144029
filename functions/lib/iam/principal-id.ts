import { GetRoleCommand, GetUserCommand, type IAMClient } from '@aws-sdk/client-iam';
import type { PrincipalIdentity } from '../arn';
import { mapAwsError } from '../aws-errors';
import { isProvisioningError, ProvisioningError } from '../errors';

/**
 * The unique id IAM gave a role or user when it was created (RoleId `AROA…`, UserId `AIDA…`).
 * A name says which principal is meant now; the id says which one it was: a role deleted and
 * created again under the same name gets a new id, and must not inherit the old one's access.
 */
export const principalIdOf = async (iam: IAMClient, principal: PrincipalIdentity): Promise<string> => {
  const who = `${principal.type} ${principal.name} in account ${principal.accountId}`;
  try {
    const id =
      principal.type === 'role'
        ? (await iam.send(new GetRoleCommand({ RoleName: principal.name }))).Role?.RoleId
        : (await iam.send(new GetUserCommand({ UserName: principal.name }))).User?.UserId;
    if (!id) throw new ProvisioningError('TransientAwsError', `IAM returned no unique id for ${who}; retrying`);
    return id;
  } catch (e) {
    return mapAwsError(e, `look up ${who}`, { NoSuchEntity: 'PrincipalNotFound', NoSuchEntityException: 'PrincipalNotFound' });
  }
};

/** The unique id of the principal of that name now, or undefined when IAM has none. */
export const currentPrincipalId = async (iam: IAMClient, principal: PrincipalIdentity): Promise<string | undefined> =>
  principalIdOf(iam, principal).catch((e: unknown) => (isProvisioningError(e, 'PrincipalNotFound') ? undefined : Promise.reject(e)));

/** Refuses a principal id that is not the one IAM gives the principal of that name now (a forged or outdated step input). */
export const assertPrincipalId = async (iam: IAMClient, principal: PrincipalIdentity, claimed: string): Promise<void> => {
  const actual = await principalIdOf(iam, principal);
  if (actual !== claimed) {
    throw new ProvisioningError('PrincipalRecreated', `${principal.type} ${principal.name} now has the unique id ${actual}, not ${claimed}: it was deleted and created again since this request was validated; start a new request`, {
      details: { field: 'request.principalId' },
    });
  }
};
