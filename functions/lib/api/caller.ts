import type { Partition, PrincipalArn } from '../core/arn';
import { ProvisioningError } from '../core/errors';
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

/**
 * Where the caller ARN comes from, for messages: deployed, the SigV4 signature (API Gateway's IAM authorizer); in
 * local mode a header stands in for it (dev/http-api.ts, CALLER_HEADER), so a person types it and can mistype it.
 */
const CALLER_SOURCE = 'the caller identity (SigV4; in local mode the x-caller-arn header)';

/** The forms a signed request's caller takes (what API Gateway reports), for messages. */
const sessionFormsOf = (partition: string, accountId: string): string =>
  `a role session arn:${partition}:sts::${accountId}:assumed-role/ROLE/SESSION or an IAM user arn:${partition}:iam::${accountId}:user/NAME`;

/**
 * A role (or group, or policy) never signs a request: credentials are a role session's or a user's, and SigV4 reports
 * the session. Such an ARN as the caller is a mistake (typically a role ARN typed into the local header), and it says
 * which ARN to send instead of being read as an identity without a principal.
 */
const notASession = (arn: string, partition: string, service: string, accountId: string, resource: string): ProvisioningError | undefined => {
  const role = service === 'iam' ? /^role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]+)$/.exec(resource) : null;
  const sessionless = service === 'sts' ? /^assumed-role\/([\w+=,.@-]+)\/?$/.exec(resource) : null;
  const name = role?.[1] ?? sessionless?.[1];
  if (name !== undefined) {
    return new ProvisioningError(
      'NotAuthorized',
      `${CALLER_SOURCE} "${arn}" is ${role ? 'a role' : 'an assumed role without a session name'}, ` +
        `not a session: a role cannot sign a request itself. Send the session that signs it, ` +
        `arn:${partition}:sts::${accountId}:assumed-role/${name}/SESSION (SESSION: the role session name, ` +
        `e.g. alice-laptop), or an IAM user ARN arn:${partition}:iam::${accountId}:user/NAME`,
      { details: { reason: 'caller is not a session', callerArn: arn, expected: `arn:${partition}:sts::${accountId}:assumed-role/${name}/SESSION` } },
    );
  }
  const known =
    (service === 'sts' && /^(assumed-role\/[^/]+\/[^/]+|federated-user\/.+)$/.test(resource)) || (service === 'iam' && /^(user\/.+|root)$/.test(resource));
  if (known) return undefined;
  return new ProvisioningError(
    'NotAuthorized',
    `${CALLER_SOURCE} "${arn}" is not an identity that signs requests; send ${sessionFormsOf(partition, accountId)}`,
    {
      details: { reason: 'caller is not a session', callerArn: arn },
    },
  );
};

export const parseCallerArn = (arn: string): Caller => {
  const m = CALLER_ARN.exec(arn);
  if (!m)
    throw new ProvisioningError('NotAuthorized', `${CALLER_SOURCE} "${arn}" is not an IAM or STS ARN; send ${sessionFormsOf('aws', 'ACCOUNT')}`, {
      details: { reason: 'caller is not a session', callerArn: arn },
    });
  const [, partition, service, accountId, resource] = m;
  const refusal = notASession(arn, partition, service, accountId, resource);
  if (refusal) throw refusal;
  const base = { arn, accountId, partition: partition as Partition };
  const assumed = /^assumed-role\/([\w+=,.@-]+)\/[^/]+$/.exec(resource);
  if (service === 'sts' && assumed) return { ...base, principal: { type: 'role', name: assumed[1] } };
  const user = /^user\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]+)$/.exec(resource);
  if (service === 'iam' && user) return { ...base, principal: { type: 'user', name: user[1] } };
  // The account root, federated users: identities without a role or user of their own.
  return base;
};

/** A caller ARN read back from an execution's requestedBy (which may also be `idp:SOURCE`): undefined when it is none. */
export const callerOrUndefined = (arn: unknown): Caller | undefined => {
  if (typeof arn !== 'string' || !CALLER_ARN.test(arn)) return undefined;
  try {
    return parseCallerArn(arn);
  } catch {
    // Recorded before such callers were refused (a role ARN sent as the local header): no caller.
    return undefined;
  }
};

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
