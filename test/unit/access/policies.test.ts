/**
 * Approval policies: strictly validated in the targets file (every problem names its field, what is wrong and what is
 * allowed), and matched to requests so that an auto-approval never waves through what another policy reviews.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAgainstPolicy, isApprover, matchPolicy } from '../../../functions/lib/access/policies';
import { type Config, parseConfig } from '../../../functions/lib/core/config';
import { ConfigurationError, ProvisioningError } from '../../../functions/lib/core/errors';

const example = (): Record<string, unknown> =>
  JSON.parse(readFileSync(join(__dirname, '../../../config/targets.example.json'), 'utf8')) as Record<string, unknown>;
const withPolicies = (approvalPolicies: unknown[]): Config => parseConfig({ ...example(), approvalPolicies });

const problemsOf = (approvalPolicies: unknown[]): readonly string[] => {
  try {
    withPolicies(approvalPolicies);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return (e as ConfigurationError).problems;
  }
  throw new Error('the configuration was accepted');
};

const PROD_WRITE = {
  name: 'prod-write',
  match: { targets: ['orders'], dbRoles: ['app_write'] },
  approvers: ['arn:aws:iam::123456789012:role/dba-*'],
  required: 2,
  pendingTtl: 'PT4H',
  defaultDuration: 'PT1H',
  maxDuration: 'PT8H',
  maxTotalDuration: 'PT12H',
  reason: { required: true, pattern: '^(INC|CHG)-[0-9]+' },
};
const DEV_READ = { name: 'dev-read', match: { targets: ['orders'], dbRoles: ['app_read'] }, autoApprove: { maxDuration: 'PT2H' } };

describe('approvalPolicies in the targets file', () => {
  it('loads the reference example, with defaults filled in', () => {
    const config = withPolicies([PROD_WRITE, DEV_READ]);
    expect(config.approvalPolicies[1]).toEqual({
      ...DEV_READ,
      approvers: [],
      approverGroups: [],
      required: 1,
      denyThreshold: 1,
      pendingTtl: 'PT4H',
      defaultDuration: 'PT1H',
      maxDuration: 'PT8H',
      reason: { required: false },
    });
  });

  it('no policies is the default: every request behaves as before', () => {
    expect(parseConfig(example()).approvalPolicies).toEqual([]);
  });

  it.each([
    ['a duration in months', { ...PROD_WRITE, maxDuration: 'P1M' }, 'approvalPolicies.0.maxDuration: uses years or months'],
    ['a duration that is not ISO 8601', { ...PROD_WRITE, pendingTtl: '4h' }, 'approvalPolicies.0.pendingTtl: must be an ISO 8601 duration'],
    ['an unknown key', { ...PROD_WRITE, aprovers: [] }, 'approvalPolicies.0.aprovers: unknown key, did you mean "approvers"?'],
    [
      'an approver with a wildcard account',
      { ...PROD_WRITE, approvers: ['arn:aws:iam::*:role/dba'] },
      'approvalPolicies.0.approvers.0: must be an IAM or STS ARN',
    ],
    ['a bad group id', { ...PROD_WRITE, approverGroups: ['dbas'] }, 'approvalPolicies.0.approverGroups.0: must be an IAM Identity Center group id'],
    ['required 0', { ...PROD_WRITE, required: 0 }, 'approvalPolicies.0.required: must be at least 1'],
    [
      'a reason pattern that does not compile',
      { ...PROD_WRITE, reason: { required: true, pattern: '(' } },
      'approvalPolicies.0.reason.pattern: is not a valid regular expression',
    ],
    [
      'an unknown target',
      { ...PROD_WRITE, match: { targets: ['nope'] } },
      'approvalPolicies.0.match.targets: "nope" is not a configured target (configured: orders, analytics)',
    ],
    [
      'a role the target does not allow',
      { ...PROD_WRITE, match: { targets: ['orders'], dbRoles: ['reporting'] } },
      'approvalPolicies.0.match.dbRoles: "reporting" is not on the allow-list of target "orders"',
    ],
    [
      'nobody to decide',
      { name: 'nobody', match: { targets: ['orders'] } },
      'approvalPolicies.0.approvers: name at least one approver (or approverGroups), or set autoApprove',
    ],
    [
      'a default longer than the maximum',
      { ...PROD_WRITE, defaultDuration: 'PT9H' },
      'approvalPolicies.0.defaultDuration: "PT9H" is longer than maxDuration "PT8H"',
    ],
    [
      'a maximum longer than the total',
      { ...PROD_WRITE, maxTotalDuration: 'PT2H' },
      'approvalPolicies.0.maxDuration: "PT8H" is longer than maxTotalDuration "PT2H"',
    ],
    [
      'an auto-approval longer than the maximum',
      { ...DEV_READ, maxDuration: 'PT1H' },
      'approvalPolicies.0.autoApprove.maxDuration: "PT2H" is longer than maxDuration "PT1H"',
    ],
  ])('refuses %s, naming the field', (_, policy, problem) => {
    expect(problemsOf([policy]).join('\n')).toContain(problem);
  });

  it('refuses two policies of one name', () => {
    expect(problemsOf([PROD_WRITE, { ...DEV_READ, name: 'prod-write' }])).toContain(
      'approvalPolicies.1.name: "prod-write" is the name of an earlier policy; each policy needs a name of its own',
    );
  });
});

describe('which policy governs a request', () => {
  const config = withPolicies([DEV_READ, PROD_WRITE]);

  it('none for a target or roles no policy names: the request runs as before', () => {
    expect(matchPolicy(config, 'analytics', ['reporting'])).toBeUndefined();
    expect(matchPolicy(config, 'orders', [])).toBeUndefined();
  });

  it('a reviewed policy wins over an auto-approving one listed before it', () => {
    expect(matchPolicy(config, 'orders', ['app_read'])?.policy.name).toBe('dev-read');
    expect(matchPolicy(config, 'orders', ['app_read', 'app_write'])?.policy.name).toBe('prod-write');
  });

  it('an auto-approval applies only when its policy covers every role asked for', () => {
    const wide = withPolicies([{ ...DEV_READ, approvers: ['arn:aws:iam::123456789012:role/dba-*'] }]);
    expect(matchPolicy(wide, 'orders', ['app_read'])).toMatchObject({ autoApprovable: true });
    expect(matchPolicy(wide, 'orders', ['app_read', 'app_write'])).toMatchObject({ autoApprovable: false });
    // Without approvers, what the auto-approval does not cover could never be approved: refused, naming the roles.
    const only = withPolicies([DEV_READ]);
    const matched = matchPolicy(only, 'orders', ['app_read', 'app_write']);
    if (!matched) throw new Error('no policy');
    expect(() => checkAgainstPolicy(matched, { dbRoles: ['app_read', 'app_write'] })).toThrow(/ask for the other roles \(app_write\)/);
  });
});

describe('a request checked against its policy', () => {
  const config = withPolicies([PROD_WRITE, DEV_READ]);
  const prod = matchPolicy(config, 'orders', ['app_write']);
  const dev = matchPolicy(config, 'orders', ['app_read']);
  if (!prod || !dev) throw new Error('no policy');
  const refusal = (f: () => unknown): ProvisioningError => {
    try {
      f();
    } catch (e) {
      if (e instanceof ProvisioningError) return e;
    }
    throw new Error('not refused');
  };

  it('takes the default duration, and answers it in canonical form', () => {
    expect(checkAgainstPolicy(prod, { reason: 'INC-1', dbRoles: ['app_write'] })).toEqual({ duration: 'PT1H', durationMs: 3_600_000, autoApproved: false });
    expect(checkAgainstPolicy(prod, { duration: 'PT90M', reason: 'INC-1', dbRoles: ['app_write'] }).duration).toBe('PT1H30M');
  });

  it.each([
    [
      'a duration over the maximum',
      { duration: 'PT9H', reason: 'INC-1' },
      'duration',
      '"PT9H" is longer than approval policy "prod-write" allows (at most PT8H)',
    ],
    ['a malformed duration', { duration: '1 hour', reason: 'INC-1' }, 'duration', 'must be an ISO 8601 duration'],
    ['no reason', {}, 'reason', 'is required by approval policy "prod-write" and must match ^(INC|CHG)-[0-9]+'],
    ['a reason off the pattern', { reason: 'because' }, 'reason', 'must match ^(INC|CHG)-[0-9]+'],
  ])('refuses %s (400 naming the field)', (_, asked, field, message) => {
    const e = refusal(() => checkAgainstPolicy(prod, { ...asked, dbRoles: ['app_write'] }));
    expect(e.code).toBe('ValidationError');
    expect(e.details).toMatchObject({ field });
    expect(e.message).toContain(message);
  });

  it('auto-approves up to autoApprove.maxDuration; a policy without approvers allows no more than that', () => {
    expect(checkAgainstPolicy(dev, { duration: 'PT2H', dbRoles: ['app_read'] }).autoApproved).toBe(true);
    expect(refusal(() => checkAgainstPolicy(dev, { duration: 'PT3H', dbRoles: ['app_read'] })).message).toContain('at most PT2H');
  });

  it('an approver matches by caller ARN, by its role, or by an Identity Center group', () => {
    const groups = withPolicies([{ ...PROD_WRITE, approverGroups: ['a1b2c3d4-0000-4000-8000-000000000001'] }]).approvalPolicies[0];
    expect(isApprover(groups, { arn: 'arn:aws:sts::123456789012:assumed-role/dba-eu/bob', principal: 'arn:aws:iam::123456789012:role/dba-eu' })).toBe(true);
    expect(isApprover(groups, { arn: 'arn:aws:sts::123456789012:assumed-role/dev/eve', principal: 'arn:aws:iam::123456789012:role/dev' })).toBe(false);
    expect(isApprover(groups, { arn: 'arn:aws:sts::123456789012:assumed-role/dev/eve', groups: ['a1b2c3d4-0000-4000-8000-000000000001'] })).toBe(true);
  });
});
