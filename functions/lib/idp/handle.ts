import type { IAMClient } from '@aws-sdk/client-iam';
import type { RDSClient } from '@aws-sdk/client-rds';
import { type Partition, partitionOfRegion, principalArnOrUndefined, sameRoleOrUser, samePrincipal } from '../core/arn';
import pThrottle from 'p-throttle';
import { type ExecutionsDeps, startDerivedRequest } from '../core/executions';
import { type Config, resolveTargetConfig } from '../core/config';
import { isProvisioningError } from '../core/errors';
import { currentPrincipalId } from '../iam/principal-id';
import { logger } from '../core/logger';
import { describeTarget } from '../rds/target';
import { validateOffboardRequest, validateOnboardRequest } from '../core/requests';
import type { DatabasePlanner } from '../workflows/request-plan';
import { parseRoleComment } from '../postgres/ddl';
import { type CoalesceDeps, claimReconcile, completeReconcile } from './coalesce';
import { endRequestsOfRemovedPerson, type IdentityRemovalDeps, voidVotesOfRemovedPerson } from '../access/identity';
import { decide, grantedTargets, onboardingOf, identityOf, type IdpAction, type IdpMapping, idpUserOf } from './decide';
import type { IdentityDirectory, Person } from './directory';
import { executionNameFor, type GroupRef, type IdentityChange } from './events';
import { parseIdentityEvent } from './providers';

/**
 * One EventBridge event in, the executions it means started (each database-user change its own,
 * named from the event id). Malformed events throw (Lambda's failure destination: the dead-letter
 * queue, with the reason); ignored ones log why.
 */
export interface IdpDeps {
  config: Config;
  executions: ExecutionsDeps;
  /** The directory of the event's provider; undefined when none is configured for it. */
  directoryFor: (change: IdentityChange) => IdentityDirectory | undefined;
  iam: IAMClient;
  rds: (region: string) => RDSClient;
  /** Read-only database access (the dbUserPlan function): which database users were created for whom. */
  database: Pick<DatabasePlanner, 'review'>;
  /** Where reconciles of the whole mapping are coordinated (the lock table); without it every notification reconciles. */
  coalesce?: CoalesceDeps;
  /** Access requests under approval policies (the stack's table): a removed person's are cancelled or ended. */
  accessRequests?: IdentityRemovalDeps;
}

export interface IdpOutcome {
  eventId?: string;
  change?: IdentityChange['change'];
  ignored?: string;
  executions: Array<{ requestId: string; kind: IdpAction['kind']; target: string; dbUser: string; started: boolean }>;
}

/**
 * IAM deleted a principal: offboard the database users whose creation record (role comment) names
 * it, on configured targets; never a user merely listed in some policy. CloudTrail names the
 * principal, not its unique id: a principal of that name that exists when the event is handled is a
 * later one, and keeps the users recorded for its own id (and those recorded without an id).
 */
const principalDeletedActions = async (deps: IdpDeps, principal: { type: 'role' | 'user'; name: string; accountId: string }): Promise<IdpAction[]> => {
  const living = new Map<Partition, Promise<string | undefined>>();
  const livingId = (partition: Partition): Promise<string | undefined> => {
    if (!living.has(partition)) living.set(partition, currentPrincipalId(deps.iam, { ...principal, partition }));
    return living.get(partition) as Promise<string | undefined>;
  };
  const shared = deps.config.idp?.principal.kind === 'shared' ? deps.config.idp.principal.roleArn : undefined;
  const actions: IdpAction[] = [];
  for (const name of Object.keys(deps.config.targets).sort()) {
    const target = resolveTargetConfig(deps.config, name);
    if (target.accountId !== principal.accountId) continue;
    const deleted = { ...principal, partition: partitionOfRegion(target.region) };
    const db = await describeTarget(deps.rds(target.region), target);
    for (const role of (await deps.database.review({ target, db }, [])).managed) {
      const record = parseRoleComment(role.comment);
      const recorded = principalArnOrUndefined(record?.principal);
      if (!record || !recorded || !samePrincipal(recorded, deleted)) continue;
      // A shared role's members have users recorded for their people: those go when the people do.
      if (record.idpUser && sameRoleOrUser(shared, recorded.arn)) continue;
      const now = await livingId(deleted.partition);
      if (now !== undefined && (record.principalId === undefined || record.principalId === now)) {
        logger.info('database user kept: a principal of that name exists now', {
          target: name,
          dbUser: role.name,
          principalId: now,
          recordedPrincipalId: record.principalId,
        });
        continue;
      }
      actions.push({ kind: 'offboarding', input: { target: name, dbUser: role.name, principalArn: recorded.arn } });
    }
  }
  return actions;
};

/**
 * Without a directory (Okta without API access) the event is all there is: an add grants, a removal
 * withdraws, and grants of the person's other groups are not counted (see docs/design.md).
 */
const personFromEvent = (change: Extract<IdentityChange, { user: unknown }>): Person | undefined => {
  if (!('group' in change) || change.user.login === undefined) return undefined;
  return { userId: change.user.id, userName: change.user.login, active: true, groups: change.change === 'membership-added' ? [change.group] : [] };
};

interface RecordedUser {
  target: string;
  dbUser: string;
  idpUser: string;
  principalArn?: string;
}

/** Database users this project created for identity-provider people, on the mapped targets (their role comments say for whom). */
const createdForPeople = async (deps: IdpDeps, idp: IdpMapping): Promise<RecordedUser[]> => {
  const found: RecordedUser[] = [];
  for (const name of [...new Set(Object.values(idp.groups).flatMap((g) => g.targets))].sort()) {
    const target = resolveTargetConfig(deps.config, name);
    const db = await describeTarget(deps.rds(target.region), target);
    for (const role of (await deps.database.review({ target, db }, [])).managed) {
      const comment = parseRoleComment(role.comment);
      if (comment?.idpUser)
        found.push({ target: name, dbUser: role.name, idpUser: comment.idpUser, ...(comment.principal ? { principalArn: comment.principal } : {}) });
    }
  }
  return found;
};

const IDENTITY_STORE_ID = /^([0-9a-f]{10}-|)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The mapping's groups as the directory is asked for them: by id, or by name where the key is not an id. */
const mappedGroups = (idp: IdpMapping): GroupRef[] =>
  Object.keys(idp.groups)
    .sort()
    .map((key) => (IDENTITY_STORE_ID.test(key) ? { id: key } : { id: key, name: key }));

/**
 * Changes that do not say who (DeleteGroupMembership, notifications), or about someone the directory
 * no longer knows (a deleted user): the database users recorded for identity-provider people are
 * reconciled with what the provider shows now. `only`: the person whose users go regardless
 * (deactivated, deleted); otherwise callers ensure there is a directory. `snapshot`: everyone in a
 * mapped group now (IdentityDirectory.everyone), read once instead of once per person.
 */
const reconcile = async (
  deps: IdpDeps,
  idp: IdpMapping,
  change: IdentityChange,
  recorded: RecordedUser[],
  only?: string,
  snapshot?: Map<string, Person>,
): Promise<IdpAction[]> => {
  const actions: IdpAction[] = [];
  const directory = deps.directoryFor(change);
  // People of this provider only: "identity-center:" + user id.
  const prefix = idpUserOf({ source: change.source, user: { id: '' } });
  // One directory read per person, however many targets they have users on.
  const granted = new Map<string, Promise<Map<string, unknown>>>();
  const grantedFor = (idpUser: string): Promise<Map<string, unknown>> => {
    if (!granted.has(idpUser)) {
      const userId = idpUser.slice(prefix.length);
      const lookup =
        only !== undefined || !directory ? Promise.resolve(undefined) : snapshot ? Promise.resolve(snapshot.get(userId)) : directory.person({ id: userId });
      granted.set(
        idpUser,
        lookup.then((person) => (person?.active ? grantedTargets(idp, person.groups) : new Map())),
      );
    }
    return granted.get(idpUser) as Promise<Map<string, unknown>>;
  };
  for (const u of recorded) {
    if (only !== undefined ? u.idpUser !== only : !u.idpUser.startsWith(prefix)) continue;
    if (!(await grantedFor(u.idpUser)).has(u.target))
      actions.push({
        kind: 'offboarding',
        input: { target: u.target, dbUser: u.dbUser, ...(u.principalArn ? { principalArn: u.principalArn } : {}), idpUser: u.idpUser },
      });
  }
  return actions;
};

/** Everyone in a mapped group, when the directory can list them at once (undefined: ask per person). */
const snapshotOf = (deps: IdpDeps, idp: IdpMapping, change: IdentityChange): Promise<Map<string, Person>> | undefined => {
  const everyone = deps.directoryFor(change)?.everyone;
  return everyone ? everyone(mappedGroups(idp)) : undefined;
};

/**
 * Identity Store notifications say only what kind of thing changed: the whole mapping is reconciled.
 * Database users whose grants are gone are offboarded; members of mapped groups without their
 * database user are onboarded (existing ones are left as they are: membership events update roles).
 * The directory is read in a few paged listings (IdentityDirectory.everyone), the databases once per target.
 */
const reconcileAll = async (deps: IdpDeps, idp: IdpMapping, change: IdentityChange): Promise<IdpAction[]> => {
  const snapshot = await snapshotOf(deps, idp, change);
  if (!snapshot) return [];
  const recorded = await createdForPeople(deps, idp);
  const actions = await reconcile(deps, idp, change, recorded, undefined, snapshot);
  const existing = new Set(recorded.map((u) => `${u.target}/${u.idpUser}`));
  for (const person of [...snapshot.values()].sort((a, b) => (a.userId < b.userId ? -1 : 1))) {
    if (!person.active) continue;
    const { userId } = person;
    const idpUser = idpUserOf({ source: change.source, user: { id: userId } });
    let identity: ReturnType<typeof identityOf>;
    try {
      identity = identityOf(idp, { userId, userName: person.userName });
    } catch (e) {
      // One person the templates cannot name must not hold up everyone else.
      logger.warn('identity-provider person skipped', { userId, reason: (e as Error).message });
      continue;
    }
    for (const [target, g] of grantedTargets(idp, person.groups)) {
      if (!existing.has(`${target}/${idpUser}`)) actions.push(onboardingOf(identity, target, g, idpUser));
    }
  }
  return actions;
};

export const handleIdentityEvent = async (deps: IdpDeps, raw: unknown, startedBefore: ReadonlySet<string> = new Set()): Promise<IdpOutcome> => {
  const parsed = parseIdentityEvent(raw);
  if (parsed.kind === 'ignored') {
    logger.info('identity event ignored', { reason: parsed.reason });
    return { ignored: parsed.reason, executions: [] };
  }
  const change = parsed.change;
  const base = { eventId: change.eventId, change: change.change };
  const idp: IdpMapping | undefined = deps.config.idp;
  let actions: IdpAction[];
  // Recorded once every execution of a reconcile has started: only then does it cover the notifications it skipped.
  let completion: (() => Promise<boolean>) | undefined;
  if (change.change === 'principal-deleted') {
    actions = await principalDeletedActions(deps, change.principal);
  } else if (!idp) {
    return { ...base, ignored: 'no idp mapping is configured', executions: [] };
  } else if (change.change === 'directory-changed') {
    // One reconcile at a time, and none for a notification a reconcile that read the directory after it covers.
    const claim = deps.coalesce
      ? await claimReconcile(deps.coalesce, change.source, change.eventId, change.changedAt ?? Date.now())
      : { run: true as const, startedAt: Date.now() };
    if (!claim.run) {
      logger.info('identity store notification coalesced', { coveredBy: claim.coveredBy });
      return { ...base, ignored: `covered by ${claim.coveredBy}`, executions: [] };
    }
    actions = await reconcileAll(deps, idp, change);
    completion = deps.coalesce && (() => completeReconcile(deps.coalesce as CoalesceDeps, change.source, change.eventId, claim.startedAt));
  } else if (change.change === 'membership-deleted') {
    // Identity Store names only the membership: every person with database users is checked against the store.
    // Without the directory nobody's current groups are known: offboarding on guesswork would drop everyone.
    const directory = deps.directoryFor(change);
    if (!directory) logger.warn('identity event not reconciled: no directory for this provider', { source: change.source });
    actions = directory ? await reconcile(deps, idp, change, await createdForPeople(deps, idp), undefined, await snapshotOf(deps, idp, change)) : [];
  } else if (change.change === 'user-deleted' || change.change === 'user-deactivated') {
    // Every database user recorded for this person, whatever it is named; never one that merely has the name.
    actions = await reconcile(deps, idp, change, await createdForPeople(deps, idp), idpUserOf(change));
  } else {
    const directory = deps.directoryFor(change);
    const person = directory ? await directory.person(change.user) : personFromEvent(change);
    const decision = decide(idp, change, person);
    if (!directory) logger.info('no directory for this provider: grants are not counted across groups', { source: change.source });
    if (decision.note) logger.info('identity event decided', { note: decision.note });
    actions = decision.actions;
  }

  const reason = `${change.source} ${change.change} (event ${change.eventId})`;
  const requestedBy = `idp:${change.source}`;
  const executions: IdpOutcome['executions'] = [];
  // Validated as the workflow would, all before any starts: a request that cannot run is skipped and logged, the others go.
  const valid = actions.flatMap((action) => {
    const fields = {
      requestId: executionNameFor(change, { kind: action.kind, target: action.input.target, dbUser: action.input.dbUser }),
      ...action.input,
      reason,
      requestedBy,
    };
    // A second pass of the same reconcile (a notification was deferred to it) starts only what the first did not.
    if (startedBefore.has(fields.requestId)) return [];
    try {
      if (action.kind === 'onboarding') validateOnboardRequest(fields, deps.config);
      else validateOffboardRequest(fields, deps.config);
      return [{ action, fields }];
    } catch (e) {
      if (!isProvisioningError(e)) throw e;
      logger.warn('identity-provider request refused', { target: action.input.target, dbUser: action.input.dbUser, error: e.code, errorMessage: e.message });
      return [];
    }
  });
  // Taking access away first; then at idp.startsPerSecond, many in flight: a reconcile of 10,000 people is 100 s of
  // starts, not 10,000 sequential round trips (docs/design.md "Identity-provider events at scale").
  const ordered = [...valid.filter((v) => v.action.kind === 'offboarding'), ...valid.filter((v) => v.action.kind === 'onboarding')];
  const paced = pThrottle({ limit: 1, interval: 1000 / (idp?.startsPerSecond ?? 100) })(async ({ action, fields }: (typeof valid)[number]) => {
    const { requestId } = fields;
    const kind = action.kind === 'onboarding' ? 'onboarding' : 'offboarding';
    const entry = { requestId, kind: action.kind, target: action.input.target, dbUser: action.input.dbUser };
    try {
      const { started } = await startDerivedRequest(deps.executions, kind, fields);
      return { ...entry, started };
    } catch (e) {
      // A redelivery after the directory changed asks for something else under the same name: the first one stands.
      if (!isProvisioningError(e, 'RequestConflict')) throw e;
      logger.warn('identity event already handled differently', { requestId });
      return { ...entry, started: false };
    }
  });
  const outcomes = await Promise.allSettled(ordered.map((v) => paced(v)));
  // The offboarding takes the standing access; a time-bound grant or a pending request of the person ends too, so an
  // approval arriving later grants nothing.
  const removals = valid.filter((v) => v.action.kind === 'offboarding');
  if (deps.accessRequests)
    for (const { action } of removals) {
      await endRequestsOfRemovedPerson(deps.accessRequests, { target: action.input.target, dbUser: action.input.dbUser });
      // A removed approver's votes count no more (their principal, when the provider maps people to their own).
      if (action.kind === 'offboarding' && action.input.principalArn) await voidVotesOfRemovedPerson(deps.accessRequests, action.input.principalArn);
    }
  for (const o of outcomes) if (o.status === 'fulfilled') executions.push(o.value);
  // Every start was tried before failing: a redelivery of the event (Lambda's retry) finds those started and starts the rest.
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    logger.error('identity event: some executions did not start', { started: executions.length, failed: outcomes.length - executions.length });
    throw failed.reason;
  }
  if (completion && !(await completion())) {
    logger.info('identity store changed while reconciling: reconciling again', { eventId: change.eventId });
    const again = await handleIdentityEvent(deps, raw, new Set([...startedBefore, ...executions.map((e) => e.requestId)]));
    return { ...base, executions: [...executions, ...again.executions] };
  }
  return { ...base, executions };
};
