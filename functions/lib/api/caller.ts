import type { Partition, PrincipalArn } from '../arn';
import { ProvisioningError } from '../errors';
import type { HttpEvent } from './http';

/**
 * Who is calling, as SigV4 (IAM authorization) established it. `arn` is what API Gateway reports:
 * an IAM user ARN, or an STS assumed-role ARN whose session name often names the person. The
 * principal is the IAM role or user behind it (an assumed-role ARN carries no role path).
 */
export interface Caller {
  arn: string;
  accountId: string;
  partition: Partition;
  principal?: { type: 'role' | 'user'; name: string };
}

const CALLER_ARN = /^arn:(aws|aws-cn|aws-us-gov):(iam|sts)::(\d{12}):(.+)$/;

export const parseCallerArn = (arn: string): Caller => {
  const m = CALLER_ARN.exec(arn);
  if (!m) throw new ProvisioningError('NotAuthorized', `caller identity "${arn}" is not an IAM or STS ARN`);
  const [, partition, service, accountId, resource] = m;
  const base = { arn, accountId, partition: partition as Partition };
  const assumed = /^assumed-role\/([\w+=,.@-]+)\/[^/]+$/.exec(resource);
  if (service === 'sts' && assumed) return { ...base, principal: { type: 'role', name: assumed[1] } };
  const user = /^user\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]+)$/.exec(resource);
  if (service === 'iam' && user) return { ...base, principal: { type: 'user', name: user[1] } };
  // The account root, federated users: identities without a role or user of their own.
  return base;
};

/** A caller ARN read back from an execution's requestedBy (which may also be `idp:SOURCE`): undefined when it is none. */
export const callerOrUndefined = (arn: unknown): Caller | undefined => (typeof arn === 'string' && CALLER_ARN.test(arn) ? parseCallerArn(arn) : undefined);

/** The caller of an HTTP API request with IAM authorization; without it nothing is allowed. */
export const callerOf = (event: Pick<HttpEvent, 'requestContext'>): Caller => {
  const arn = event.requestContext?.authorizer?.iam?.userArn;
  if (!arn) throw new ProvisioningError('NotAuthorized', 'the request carries no IAM caller identity; the API requires SigV4 (IAM) authorization');
  return parseCallerArn(arn);
};

/** The caller's own IAM principal, without path (STS does not report it), for messages and patterns. */
export const principalArnOf = (caller: Caller): string | undefined =>
  caller.principal && `arn:${caller.partition}:iam::${caller.accountId}:${caller.principal.type}/${caller.principal.name}`;

/** Whether `principal` is the caller's own role or user (names are unique per account whatever the path). */
export const isOwnPrincipal = (caller: Caller, principal: PrincipalArn): boolean =>
  caller.principal !== undefined &&
  caller.principal.type === principal.type &&
  caller.principal.name === principal.name &&
  caller.accountId === principal.accountId &&
  caller.partition === principal.partition;
