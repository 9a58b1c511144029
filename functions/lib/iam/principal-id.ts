import { GetRoleCommand, GetUserCommand, type IAMClient } from '@aws-sdk/client-iam';
import type { PrincipalIdentity } from '../core/arn';
import { mapAwsError } from '../core/aws-errors';
import type { Config } from '../core/config';
import { isProvisioningError, ProvisioningError } from '../core/errors';

/**
 * The unique id IAM gave a role or user when it was created (RoleId `AROA…`, UserId `AIDA…`).
 * A name says which principal is meant now; the id says which one it was: a role deleted and
 * created again under the same name gets a new id, and must not inherit the old one's access.
 */
export const principalIdOf = async (iam: IAMClient, principal: PrincipalIdentity): Promise<string> => (await readPrincipal(iam, principal)).id;

/** What IAM says about a role or user now: its unique id, tags and permissions boundary. */
export interface PrincipalFacts {
  id: string;
  tags: Record<string, string>;
  permissionsBoundaryArn?: string;
}

export const readPrincipal = async (iam: IAMClient, principal: PrincipalIdentity): Promise<PrincipalFacts> => {
  const who = `${principal.type} ${principal.name} in account ${principal.accountId}`;
  try {
    const p =
      principal.type === 'role'
        ? (({ Role: r }) => r && { id: r.RoleId, tags: r.Tags, boundary: r.PermissionsBoundary })(
            await iam.send(new GetRoleCommand({ RoleName: principal.name })),
          )
        : (({ User: u }) => u && { id: u.UserId, tags: u.Tags, boundary: u.PermissionsBoundary })(
            await iam.send(new GetUserCommand({ UserName: principal.name })),
          );
    if (!p?.id) throw new ProvisioningError('TransientAwsError', `IAM returned no unique id for ${who}; retrying`);
    return {
      id: p.id,
      tags: Object.fromEntries((p.tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
      ...(p.boundary?.PermissionsBoundaryArn ? { permissionsBoundaryArn: p.boundary.PermissionsBoundaryArn } : {}),
    };
  } catch (e) {
    return mapAwsError(e, `look up ${who}`, { NoSuchEntity: 'PrincipalNotFound', NoSuchEntityException: 'PrincipalNotFound' });
  }
};

/**
 * The principals the grant function's role may attach to (iam.grantablePrincipals, enforced there by IAM conditions),
 * checked when a request is validated so that a refusal is a clear answer at once, not an AccessDenied at the grant.
 */
export type GrantableRule = Config['iam']['grantablePrincipals'];

export const assertGrantable = (principal: PrincipalIdentity & { arn: string }, facts: PrincipalFacts, rule: GrantableRule): void => {
  const problems = [
    ...(rule.tag && facts.tags[rule.tag.key] !== rule.tag.value ? [`carry the tag ${rule.tag.key}=${rule.tag.value}`] : []),
    ...(rule.permissionsBoundaryArn && facts.permissionsBoundaryArn !== rule.permissionsBoundaryArn
      ? [`have the permissions boundary ${rule.permissionsBoundaryArn}`]
      : []),
  ];
  if (problems.length) {
    throw new ProvisioningError(
      'NotAuthorized',
      `principalArn: ${principal.arn} may not be granted database access: ` +
        `this deployment grants only to principals that ${problems.join(' and ')} (iam.grantablePrincipals)`,
      {
        details: { field: 'principalArn', reason: 'not grantable' },
      },
    );
  }
};

/** The unique id of the principal of that name now, or undefined when IAM has none. */
export const currentPrincipalId = async (iam: IAMClient, principal: PrincipalIdentity): Promise<string | undefined> =>
  principalIdOf(iam, principal).catch((e: unknown) => (isProvisioningError(e, 'PrincipalNotFound') ? undefined : Promise.reject(e)));

/** Refuses a principal id that is not the one IAM gives the principal of that name now (a forged or outdated step input). */
export const assertPrincipalId = async (iam: IAMClient, principal: PrincipalIdentity, claimed: string): Promise<void> => {
  const actual = await principalIdOf(iam, principal);
  if (actual !== claimed) {
    throw new ProvisioningError(
      'PrincipalRecreated',
      `${principal.type} ${principal.name} now has the unique id ${actual}, not ${claimed}: ` +
        `it was deleted and created again since this request was validated; start a new request`,
      {
        details: { field: 'request.principalId' },
      },
    );
  }
};

/** The principal's unique id, once IAM shows it is one this deployment may grant to: for the Validate step and its dry run. */
export const grantablePrincipalId = async (iam: IAMClient, principal: PrincipalIdentity & { arn: string }, rule: GrantableRule): Promise<string> => {
  const facts = await readPrincipal(iam, principal);
  assertGrantable(principal, facts, rule);
  return facts.id;
};
