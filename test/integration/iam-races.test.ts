/**
 * IAM reads race other writers (issue 11, item 5): between listing the project's policies and reading one, another
 * execution may delete it, or write a new default version and delete the one just named. The change is made for
 * real in the simulated IAM at that moment; the reader must skip a deleted policy, read the newer version, and fail
 * nothing.
 */
import {
  CreatePolicyVersionCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachRolePolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listPathPolicies } from '../../functions/lib/iam/grants';
import { renderPolicy } from '../../functions/lib/iam/policy-document';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { testPg, uniqueName } from '../support/pg';

let sb: Sandbox;
beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
});
afterEach(() => sb.restore());

/** An IAM client that runs `interleave` once, just before the first command `when` accepts: another writer's change. */
const racing = (when: (command: object) => boolean, interleave: (iam: IAMClient) => Promise<void>): IAMClient => {
  const iam = new IAMClient({});
  let done = false;
  return {
    send: async (command: Parameters<IAMClient['send']>[0]) => {
      if (!done && when(command)) {
        done = true;
        await interleave(iam);
      }
      return iam.send(command as never);
    },
  } as unknown as IAMClient;
};

const onboarded = async (): Promise<{ name: string; policyArn: string }> => {
  const name = uniqueName('Racer');
  const principalArn = sb.aws.iam.addRole(name);
  const requestId = uniqueName('req');
  const exec = await sb.runner.run('onboard', requestId, { requestId, principalArn, target: 'orders' });
  expect(exec.status, `${exec.error}: ${exec.cause}`).toBe('SUCCEEDED');
  return { name, policyArn: (exec.output as { policyArn: string }).policyArn };
};

describe('listing the project policies while others change them', () => {
  it('a policy deleted between the listing and its read is skipped; the others are read', async () => {
    const [a, b] = [await onboarded(), await onboarded()];
    const iam = racing(
      (c) => c instanceof GetPolicyCommand && (c as GetPolicyCommand).input.PolicyArn === b.policyArn,
      async (real) => {
        await real.send(new DetachRolePolicyCommand({ RoleName: b.name, PolicyArn: b.policyArn }));
        await real.send(new DeletePolicyCommand({ PolicyArn: b.policyArn }));
      },
    );
    const found = await listPathPolicies(iam);
    expect(found.map((p) => p.policyArn)).toContain(a.policyArn);
    expect(found.map((p) => p.policyArn)).not.toContain(b.policyArn);
  });

  it('a default version replaced between GetPolicy and GetPolicyVersion: the newer version is read, not skipped', async () => {
    const a = await onboarded();
    const newer = 'arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-NEWER/someone';
    const iam = racing(
      (c) => c instanceof GetPolicyVersionCommand && (c as GetPolicyVersionCommand).input.PolicyArn === a.policyArn,
      async (real) => {
        const old = (await real.send(new GetPolicyCommand({ PolicyArn: a.policyArn }))).Policy?.DefaultVersionId as string;
        await real.send(new CreatePolicyVersionCommand({ PolicyArn: a.policyArn, PolicyDocument: JSON.stringify(renderPolicy([newer])), SetAsDefault: true }));
        await real.send(new DeletePolicyVersionCommand({ PolicyArn: a.policyArn, VersionId: old }));
      },
    );
    const found = await listPathPolicies(iam);
    expect(found.find((p) => p.policyArn === a.policyArn)?.grants).toEqual([newer]);
  });
});
