import { sameRoleOrUser } from '../core/arn';
import { endExecutionName } from './lifecycle';
import { type RecordDeps, transition } from './records';

/** What ending a person's access requests needs besides the record: starting an end run. */
export interface IdentityRemovalDeps extends RecordDeps {
  startEnd: (name: string, input: { requestId: string; reason: 'IDENTITY_REMOVED' }) => Promise<void>;
}

/** Who acts when the identity provider removes a person: no caller, the directory itself. */
const DIRECTORY = { arn: 'identity-provider', principal: undefined };

/**
 * The identity provider disabled or deleted a person: their requests on the database user end with them. Pending,
 * approved and scheduled requests are cancelled (an approval arriving later finds nothing to approve); a grant being
 * made ends as soon as it is made; an active grant, or one whose end failed, starts its end (IDENTITY_REMOVED).
 */
export const endRequestsOfRemovedPerson = async (deps: IdentityRemovalDeps, subject: { target: string; dbUser: string }) => {
  const of = (await deps.store.list(['PENDING_APPROVAL', 'APPROVED', 'SCHEDULED', 'ACTIVATING', 'ACTIVE', 'END_FAILED'])).filter(
    (r) => r.plan.target === subject.target && r.plan.dbUser === subject.dbUser,
  );
  const out: Array<{ requestId: string; state: string }> = [];
  for (const r of of) {
    const { request } = await transition(deps, r.requestId, (x) => {
      if (['PENDING_APPROVAL', 'APPROVED', 'SCHEDULED'].includes(x.state)) return { kind: 'cancel', by: DIRECTORY, admin: true };
      if (x.state === 'ACTIVATING') return { kind: 'request-end', reason: 'IDENTITY_REMOVED' };
      return undefined;
    });
    if (request.state === 'ACTIVE' || request.state === 'END_FAILED')
      await deps.startEnd(endExecutionName(request), { requestId: request.requestId, reason: 'IDENTITY_REMOVED' });
    out.push({ requestId: r.requestId, state: request.state });
  }
  return out;
};

/**
 * The identity provider removed a person who voted: before activation their votes no longer count (an approval that
 * relied on them needs another approver; activation counts again and finds it void).
 */
export const voidVotesOfRemovedPerson = async (deps: RecordDeps, principalArn: string) => {
  const at = deps.now().toISOString();
  const voted = (await deps.store.list(['PENDING_APPROVAL', 'APPROVED', 'SCHEDULED'])).filter((r) =>
    r.votes.some((v) => !v.voided && v.principal !== undefined && sameRoleOrUser(v.principal, principalArn)),
  );
  for (const r of voted) await transition(deps, r.requestId, (x) => (x.state === r.state ? { kind: 'void-votes', principal: principalArn, at } : undefined));
  return voted.map((r) => r.requestId);
};
