import { change, cloudTrailPattern, cloudTrailRecord, type IdentityProvider, ignored, isCloudTrail, text } from './provider';

/**
 * IAM itself: a role or user deleted (CloudTrail on the default bus, in us-east-1 only). No directory: the database
 * users recorded for the principal are offboarded unless a principal of that name exists again (functions/lib/idp/handle.ts).
 */
/** Nothing to configure: IAM is the account's own. */
export const settings = () => ({});
export const deployment = () => ({});

export const provider: IdentityProvider<object, ReturnType<typeof settings>, ReturnType<typeof deployment>> = {
  sources: ['iam'],
  accepts: (e) => isCloudTrail(e, 'aws.iam'),
  parse: (envelope, d) => {
    const record = cloudTrailRecord(d);
    if ('ignored' in record) return record.ignored;
    const { name, eventId, parameters: rp } = record;
    const accountId = text(d.recipientAccountId ?? envelope.account, 'detail.recipientAccountId');
    const principal =
      name === 'DeleteRole'
        ? { type: 'role' as const, name: text(rp.roleName, 'requestParameters.roleName') }
        : name === 'DeleteUser'
          ? { type: 'user' as const, name: text(rp.userName, 'requestParameters.userName') }
          : undefined;
    if (principal) return change({ source: 'iam', eventId, change: 'principal-deleted', principal: { ...principal, accountId } });
    return ignored(`iam ${name} does not change database access`);
  },
  settings,
  deployment,
  directory: () => undefined,
  eventRules: () => [{ name: 'iam', pattern: cloudTrailPattern(['aws.iam'], ['DeleteRole', 'DeleteUser']) }],
  statements: () => [],
};
