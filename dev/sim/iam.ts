/**
 * A SIMULATION of IAM (dev/simulated-aws.ts puts the services together; the header there lists the IAM faults):
 * roles, users, customer-managed policies with versions, attachments, tags and unique ids, served through
 * aws-sdk-client-mock. Models: the five-version and 6,144-character limits, the attached-policy quota, URL-encoded
 * documents, NoSuchEntity, throttling of writes and reads (one bucket each for the account), eventual consistency of
 * reads (snapshots), paging of every List*, ConcurrentModification, one-off faults.
 * SimulatePrincipalPolicy evaluates the principal's attached managed policies with @cloud-copilot/iam-simulate.
 * NOT modelled: per-API rate limits (one bucket for all writes); permissions boundaries in SimulatePrincipalPolicy;
 * IAM's quotas beyond versions, size and attachments (customer-managed policies per account: 1,500 by default); lag
 * that differs per entity; the SDK's own retries.
 */
import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  ConcurrentModificationException,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeleteConflictException,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  EntityAlreadyExistsException,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetUserCommand,
  IAMClient,
  IAMServiceException,
  InvalidInputException,
  LimitExceededException,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListEntitiesForPolicyCommand,
  ListPoliciesCommand,
  TagPolicyCommand,
  ListPolicyTagsCommand,
  ListPolicyVersionsCommand,
  MalformedPolicyDocumentException,
  NoSuchEntityException,
  ServiceFailureException,
  SimulatePrincipalPolicyCommand,
} from '@aws-sdk/client-iam';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { randomBytes } from 'node:crypto';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { FaultSchedule, meta, pageOf, type RateLimit, seededRandom, TokenBucket, tick } from '../sim-faults';

interface SimPolicyVersion {
  id: string;
  document: string;
  created: Date;
}
interface SimPolicy {
  arn: string;
  /** PolicyId (ANPA...): new for every creation, even under a name used before. */
  id: string;
  name: string;
  description?: string;
  path: string;
  tags: Array<{ Key: string; Value: string }>;
  versions: SimPolicyVersion[];
  defaultVersionId: string;
  nextVersion: number;
}
interface SimPrincipal {
  arn: string;
  /** RoleId (AROA...) / UserId (AIDA...): new for every creation, even under a name used before. */
  id: string;
  tags?: Record<string, string>;
  permissionsBoundaryArn?: string;
  path: string;
  created: Date;
  attached: string[];
}

/** IAM unique ids: a type prefix and 17 characters of [A-Z2-7]. */
const uniqueId = (prefix: 'AROA' | 'AIDA' | 'ANPA'): string => prefix + [...randomBytes(17)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

/** What IAM holds: the true state, or a snapshot of it as reads see it. */
interface IamState {
  roles: Map<string, SimPrincipal>;
  users: Map<string, SimPrincipal>;
  policies: Map<string, SimPolicy>;
}

/** Behaviour of the simulated IAM beyond answering at once: all off unless set (see the list at the top). */
export interface IamSimulationOptions {
  /** IAM's mutating calls, one bucket for the account; over it a call fails with `Throttling` (HTTP 400) and changes nothing. */
  throttle?: RateLimit;
  /** Reads (Get*, List*), with a bucket of their own. */
  readThrottle?: RateLimit;
  /** Reads see the state as it was this many ms ago; `{min, max}`: drawn per read, so two reads may go back in time. */
  consistencyLagMs?: number | { min: number; max: number };
  /** The most items any List* call returns per page (then IsTruncated and Marker). */
  pageSize?: number;
  /** The share (0-1) of mutating calls refused with ConcurrentModificationException (HTTP 409), changing nothing. */
  concurrentModificationRate?: number;
  /** Seed of the random draws (ConcurrentModification, randomised lag): the same seed, the same faults. */
  seed?: number;
}

export interface IamSimulationStats {
  throttled: number;
  readThrottled: number;
  concurrentModifications: number;
  /** Reads served from a snapshot that lacked at least one write already made. */
  laggedReads: number;
}

/** IAM's own errors for the faults: what the SDK raises from the service's answer. */
export const iamFaults = {
  throttling: (): Error => new IAMServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }),
  concurrentModification: (): Error =>
    new ConcurrentModificationException({
      message: 'The request was rejected because multiple requests to change this object were submitted simultaneously.',
      $metadata: { httpStatusCode: 409 },
    }),
  /** A reply that never arrived (the SDK's socket timeout): with `afterEffect`, the call did act. */
  timeout: (): Error => Object.assign(new Error('Connection timed out after 30000 ms'), { name: 'TimeoutError', $metadata: {} }),
  serviceFailure: (): Error =>
    new ServiceFailureException({
      message: 'The request processing has failed because of an unknown error, exception or failure.',
      $metadata: { httpStatusCode: 500 },
    }),
};

const lagRange = (lag: IamSimulationOptions['consistencyLagMs']): { min: number; max: number } =>
  typeof lag === 'number' ? { min: lag, max: lag } : (lag ?? { min: 0, max: 0 });

export class SimulatedIam {
  private readonly truth: IamState = { roles: new Map(), users: new Map(), policies: new Map() };
  /** The true state: writes act on it; reads see it only once the configured lag has passed. */
  readonly roles = this.truth.roles;
  readonly users = this.truth.users;
  readonly policies = this.truth.policies;
  attachedQuota = 10;
  /** One-off faults: `faults.next('CreatePolicyVersion', iamFaults.throttling())`. */
  readonly faults = new FaultSchedule();
  readonly stats: IamSimulationStats = { throttled: 0, readThrottled: 0, concurrentModifications: 0, laggedReads: 0 };
  private options: IamSimulationOptions = {};
  private random: () => number = Math.random;
  private writeBucket?: TokenBucket;
  private readBucket?: TokenBucket;
  /** The state after each change within the lag, oldest first; `base` is the newest one older than that. */
  private history: Array<{ at: number; state: IamState }> = [];
  private base?: IamState;

  constructor(
    readonly accountId = '123456789012',
    readonly partition = 'aws',
    private readonly now: () => number = Date.now,
  ) {}

  /** Turns the simulated faults on (or off, with `{}`); the state is kept. */
  configure(options: IamSimulationOptions): this {
    this.options = options;
    this.random = seededRandom(options.seed ?? 1);
    this.writeBucket = options.throttle && new TokenBucket(options.throttle, this.now);
    this.readBucket = options.readThrottle && new TokenBucket(options.readThrottle, this.now);
    this.settle();
    return this;
  }

  /** Every change so far becomes visible to reads at once (test setup made before the lag should apply). */
  settle(): void {
    this.history = [];
    this.base = lagRange(this.options.consistencyLagMs).max > 0 ? structuredClone(this.truth) : undefined;
  }

  /** Called after every change: keeps the snapshots reads may still be served from. */
  private changed(): void {
    if (!this.base) return;
    const t = this.now();
    this.history.push({ at: t, state: structuredClone(this.truth) });
    // A read never looks further back than the longest lag: older snapshots are not needed, the newest of them is the base.
    const { max } = lagRange(this.options.consistencyLagMs);
    while (this.history.length && this.history[0].at <= t - max) this.base = this.history.shift()?.state;
  }

  /** What a read sees: the state as it was `lag` ms ago (the truth when nothing changed since). */
  private readView(): IamState {
    if (!this.base) return this.truth;
    const { min, max } = lagRange(this.options.consistencyLagMs);
    const cutoff = this.now() - (min + this.random() * (max - min));
    let i = this.history.length - 1;
    while (i >= 0 && this.history[i].at > cutoff) i--;
    if (i < this.history.length - 1) this.stats.laggedReads++;
    return i >= 0 ? this.history[i].state : this.base;
  }

  addRole(name: string, path = '/', extra: Pick<SimPrincipal, 'tags' | 'permissionsBoundaryArn'> = {}): string {
    const arn = `arn:${this.partition}:iam::${this.accountId}:role${path}${name}`;
    this.roles.set(name, { arn, id: uniqueId('AROA'), path, created: new Date(), attached: [], ...extra });
    this.changed();
    return arn;
  }

  addUser(name: string, path = '/', extra: Pick<SimPrincipal, 'tags' | 'permissionsBoundaryArn'> = {}): string {
    const arn = `arn:${this.partition}:iam::${this.accountId}:user${path}${name}`;
    this.users.set(name, { arn, id: uniqueId('AIDA'), path, created: new Date(), attached: [], ...extra });
    this.changed();
    return arn;
  }

  /** The RoleId / UserId of the principal of that name now. */
  idOf(type: 'role' | 'user', name: string): string {
    return this.principal(type, name).id;
  }

  /**
   * The principal is gone; the managed policies it had stay behind unattached, as in IAM, where
   * they must be detached before the principal can be deleted.
   */
  deletePrincipal(type: 'role' | 'user', name: string): void {
    (type === 'role' ? this.roles : this.users).delete(name);
    this.changed();
  }

  /** Every resource our grant policies allow to this principal (attached ones). */
  connectGrants(type: 'role' | 'user', name: string): string[] {
    return this.attachedDocuments(type, name)
      .flatMap((d) => (d as { Statement: Array<{ Sid?: string; Resource: string | string[] }> }).Statement)
      .filter((st) => st.Sid === 'RdsIamAccessConnect')
      .flatMap((st) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]));
  }

  /** A policy someone else manages, attached to a principal: must survive everything we do. */
  attachForeignPolicy(type: 'role' | 'user', principalName: string, name: string, document: object): string {
    const arn = `arn:${this.partition}:iam::${this.accountId}:policy/${name}`;
    this.policies.set(arn, {
      arn,
      id: uniqueId('ANPA'),
      name,
      path: '/',
      tags: [],
      versions: [{ id: 'v1', document: JSON.stringify(document), created: new Date() }],
      defaultVersionId: 'v1',
      nextVersion: 2,
    });
    this.principal(type, principalName).attached.push(arn);
    this.changed();
    return arn;
  }

  /** Attaches an existing policy by hand (as an administrator in the console would). */
  attach(type: 'role' | 'user', principalName: string, policyArn: string): void {
    this.policy(policyArn);
    this.principal(type, principalName).attached.push(policyArn);
    this.changed();
  }

  /** The documents (parsed) of every policy attached to a principal: what IAM would evaluate. */
  attachedDocuments(type: 'role' | 'user', name: string): object[] {
    return this.principal(type, name).attached.map((arn) => {
      const p = this.policy(arn);
      return JSON.parse(p.versions.find((v) => v.id === p.defaultVersionId)!.document) as object;
    });
  }

  /** Local mode: every role and user name exists (there is no IAM console to create them in). */
  autoCreatePrincipals = false;

  private principal(type: 'role' | 'user', name: string): SimPrincipal {
    return this.principalIn(this.truth, type, name);
  }

  private principalIn(state: IamState, type: 'role' | 'user', name: string): SimPrincipal {
    const all = type === 'role' ? state.roles : state.users;
    if (!all.has(name) && this.autoCreatePrincipals) {
      type === 'role' ? this.addRole(name) : this.addUser(name);
      // An auto-created principal has always existed: every snapshot a read may be served from has it, unattached.
      const created = (type === 'role' ? this.roles : this.users).get(name) as SimPrincipal;
      for (const s of [this.base, ...this.history.map((h) => h.state)]) {
        const map = s && (type === 'role' ? s.roles : s.users);
        if (map && !map.has(name)) map.set(name, { ...structuredClone(created), attached: [] });
      }
    }
    const p = all.get(name);
    if (!p) throw new NoSuchEntityException({ message: `The ${type} with name ${name} cannot be found.`, ...meta });
    return p;
  }

  private policy(arn: string): SimPolicy {
    return this.policyIn(this.truth, arn);
  }

  private policyIn(state: IamState, arn: string): SimPolicy {
    const p = state.policies.get(arn);
    if (!p) throw new NoSuchEntityException({ message: `Policy ${arn} does not exist or is not attachable.`, ...meta });
    return p;
  }

  private checkDocument(document: string): void {
    if (document.replace(/\s/g, '').length > 6144) {
      throw new MalformedPolicyDocumentException({ message: 'Cannot exceed quota for PolicySize: 6144', ...meta });
    }
    JSON.parse(document);
  }

  /** Throttling and conflicts, met before IAM acts on a call (a refused call changes nothing). */
  private admit(kind: 'read' | 'write'): void {
    const bucket = kind === 'write' ? this.writeBucket : this.readBucket;
    if (bucket && !bucket.take()) {
      if (kind === 'write') this.stats.throttled++;
      else this.stats.readThrottled++;
      throw iamFaults.throttling();
    }
    if (kind === 'write' && (this.options.concurrentModificationRate ?? 0) > this.random()) {
      this.stats.concurrentModifications++;
      throw iamFaults.concurrentModification();
    }
  }

  /** A page of a List* answer: IAM's IsTruncated and Marker, pages no larger than MaxItems or the configured size. */
  private page<T>(items: T[], input: { Marker?: string; MaxItems?: number }): { items: T[]; IsTruncated: boolean; Marker?: string } {
    const max = Math.min(input.MaxItems ?? Infinity, this.options.pageSize ?? Infinity);
    const { items: page, next } = pageOf(
      items,
      input.Marker,
      max === Infinity ? items.length : max,
      () => new InvalidInputException({ message: `Invalid Marker ${input.Marker}`, ...meta }),
    );
    return { items: page, IsTruncated: next !== undefined, ...(next ? { Marker: next } : {}) };
  }

  install(): AwsClientStub<IAMClient> {
    const m = mockClient(IAMClient);
    const on = <I>(cmd: { name: string }, kind: 'read' | 'write', fn: (input: I, state: IamState) => unknown | Promise<unknown>): void => {
      const command = cmd.name.replace(/Command$/, '');
      // biome-ignore lint/suspicious/noExplicitAny: one registration for every IAM command class; each fn types its own input
      m.on(cmd as any).callsFake(async (input: I) => {
        await tick();
        const scheduled = this.faults.take(command);
        if (scheduled && !scheduled.afterEffect) throw scheduled.error();
        this.admit(kind);
        // Only reads are asynchronous (the policy simulator): a write changes the state and records it in one step.
        const result = fn(input, kind === 'write' ? this.truth : this.readView());
        const out = { ...((result instanceof Promise ? await result : result) as object), ...meta };
        if (kind === 'write') this.changed();
        if (scheduled) throw scheduled.error();
        return out;
      });
    };
    const listAttached = (s: IamState, p: SimPrincipal, i: { Marker?: string; MaxItems?: number }) => {
      const { items, ...rest } = this.page(p.attached, i);
      return { AttachedPolicies: items.map((arn) => ({ PolicyArn: arn, PolicyName: this.policyIn(s, arn).name })), ...rest };
    };
    on<{ RoleName: string; Marker?: string }>(ListAttachedRolePoliciesCommand, 'read', (i, s) => listAttached(s, this.principalIn(s, 'role', i.RoleName), i));
    on<{ UserName: string; Marker?: string }>(ListAttachedUserPoliciesCommand, 'read', (i, s) => listAttached(s, this.principalIn(s, 'user', i.UserName), i));
    on<{ PolicyArn: string }>(GetPolicyCommand, 'read', (i, s) => {
      const p = this.policyIn(s, i.PolicyArn);
      const AttachmentCount = [...s.roles.values(), ...s.users.values()].filter((x) => x.attached.includes(p.arn)).length;
      return {
        Policy: {
          Arn: p.arn,
          PolicyId: p.id,
          PolicyName: p.name,
          Path: p.path,
          DefaultVersionId: p.defaultVersionId,
          Description: p.description,
          AttachmentCount,
          ...(p.tags.length ? { Tags: p.tags } : {}),
        },
      };
    });
    on<{ PolicyArn: string; Marker?: string }>(ListPolicyTagsCommand, 'read', (i, s) => {
      const { items, ...rest } = this.page(this.policyIn(s, i.PolicyArn).tags, i);
      return { Tags: items, ...rest };
    });
    const principalView = (s: IamState, type: 'role' | 'user', name: string) => {
      const p = this.principalIn(s, type, name);
      return {
        Path: p.path,
        Arn: p.arn,
        CreateDate: p.created,
        ...(type === 'role' ? { RoleName: name, RoleId: p.id } : { UserName: name, UserId: p.id }),
        ...(p.tags ? { Tags: Object.entries(p.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
        ...(p.permissionsBoundaryArn ? { PermissionsBoundary: { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: p.permissionsBoundaryArn } } : {}),
      };
    };
    // IAM's policy simulator over the principal's attached policies, evaluated by @cloud-copilot/iam-simulate.
    on<{ PolicySourceArn: string; ActionNames: string[]; ResourceArns?: string[] }>(SimulatePrincipalPolicyCommand, 'read', async (i, s) => {
      const m = /^arn:[^:]+:iam::\d{12}:(role|user)\/(?:[^/]+\/)*([^/]+)$/.exec(i.PolicySourceArn);
      if (!m) throw new InvalidInputException({ message: `Invalid ARN ${i.PolicySourceArn}`, ...meta });
      const policies = this.principalIn(s, m[1] as 'role' | 'user', m[2]).attached.map((arn) => {
        const p = this.policyIn(s, arn);
        return { id: p.id, name: p.name, policy: JSON.parse(p.versions.find((v) => v.id === p.defaultVersionId)?.document ?? '{}') };
      });
      const decide = async (action: string, resource: string, of: typeof policies): Promise<string> => {
        const r = await runSimulation(
          {
            request: { principal: i.PolicySourceArn, action, resource: { resource, accountId: this.accountId }, contextVariables: {} },
            identityPolicies: of.map(({ name, policy }) => ({ name, policy })),
            serviceControlPolicies: [],
            resourceControlPolicies: [],
          },
          {},
        );
        if (r.resultType === 'error') throw new InvalidInputException({ message: JSON.stringify(r.errors), ...meta });
        return r.overallResult;
      };
      const EvaluationResults = [];
      for (const action of i.ActionNames)
        for (const resource of i.ResourceArns ?? ['*']) {
          const overall = await decide(action, resource, policies);
          const matched = [];
          if (overall === 'Allowed') for (const p of policies) if ((await decide(action, resource, [p])) === 'Allowed') matched.push(p);
          EvaluationResults.push({
            EvalActionName: action,
            EvalResourceName: resource,
            EvalDecision: overall === 'Allowed' ? 'allowed' : overall === 'ExplicitlyDenied' ? 'explicitDeny' : 'implicitDeny',
            MatchedStatements: matched.map((p) => ({ SourcePolicyId: p.id, SourcePolicyType: 'IAM Policy' })),
          });
        }
      return { EvaluationResults, IsTruncated: false };
    });
    on<{ RoleName: string }>(GetRoleCommand, 'read', (i, s) => ({ Role: principalView(s, 'role', i.RoleName) }));
    on<{ UserName: string }>(GetUserCommand, 'read', (i, s) => ({ User: principalView(s, 'user', i.UserName) }));
    on<{ PolicyArn: string; VersionId: string }>(GetPolicyVersionCommand, 'read', (i, s) => {
      const p = this.policyIn(s, i.PolicyArn);
      const v = p.versions.find((x) => x.id === i.VersionId);
      if (!v) throw new NoSuchEntityException({ message: `version ${i.VersionId} not found`, ...meta });
      // IAM returns documents URL-encoded (RFC 3986).
      return { PolicyVersion: { VersionId: v.id, Document: encodeURIComponent(v.document), IsDefaultVersion: v.id === p.defaultVersionId } };
    });
    on<{ PolicyArn: string; Marker?: string }>(ListPolicyVersionsCommand, 'read', (i, s) => {
      const p = this.policyIn(s, i.PolicyArn);
      const { items, ...rest } = this.page(p.versions, i);
      return { Versions: items.map((v) => ({ VersionId: v.id, IsDefaultVersion: v.id === p.defaultVersionId, CreateDate: v.created })), ...rest };
    });
    on<{ PolicyArn: string; PolicyDocument: string; SetAsDefault?: boolean }>(CreatePolicyVersionCommand, 'write', (i) => {
      const p = this.policy(i.PolicyArn);
      this.checkDocument(i.PolicyDocument);
      if (p.versions.length >= 5) throw new LimitExceededException({ message: 'A managed policy can have up to 5 versions.', ...meta });
      const id = `v${p.nextVersion++}`;
      p.versions.push({ id, document: i.PolicyDocument, created: new Date() });
      if (i.SetAsDefault) p.defaultVersionId = id;
      return { PolicyVersion: { VersionId: id, IsDefaultVersion: i.SetAsDefault === true } };
    });
    on<{ PolicyArn: string; VersionId: string }>(DeletePolicyVersionCommand, 'write', (i) => {
      const p = this.policy(i.PolicyArn);
      if (p.defaultVersionId === i.VersionId) throw new DeleteConflictException({ message: 'Cannot delete the default version of a policy.', ...meta });
      if (!p.versions.some((v) => v.id === i.VersionId))
        throw new NoSuchEntityException({ message: `Policy ${i.PolicyArn} version ${i.VersionId} does not exist.`, ...meta });
      p.versions = p.versions.filter((v) => v.id !== i.VersionId);
      return {};
    });
    on<{ PolicyName: string; Path?: string; PolicyDocument: string; Description?: string; Tags?: Array<{ Key: string; Value: string }> }>(
      CreatePolicyCommand,
      'write',
      (i) => {
        const path = i.Path ?? '/';
        const arn = `arn:${this.partition}:iam::${this.accountId}:policy${path}${i.PolicyName}`;
        if ([...this.policies.values()].some((p) => p.name === i.PolicyName)) {
          throw new EntityAlreadyExistsException({ message: `A policy called ${i.PolicyName} already exists.`, ...meta });
        }
        this.checkDocument(i.PolicyDocument);
        // IAM tag values: letters, digits, spaces and _.:/=+-@ only.
        for (const t of i.Tags ?? [])
          if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u.test(t.Value)) throw new InvalidInputException({ message: `tag value ${t.Value} is not valid`, ...meta });
        this.policies.set(arn, {
          arn,
          id: uniqueId('ANPA'),
          name: i.PolicyName,
          path,
          description: i.Description,
          tags: [...(i.Tags ?? [])],
          versions: [{ id: 'v1', document: i.PolicyDocument, created: new Date() }],
          defaultVersionId: 'v1',
          nextVersion: 2,
        });
        return { Policy: { Arn: arn, PolicyId: this.policies.get(arn)?.id, PolicyName: i.PolicyName, Path: path, DefaultVersionId: 'v1' } };
      },
    );
    // Anyone with iam:TagPolicy can change tags later: ownership is proven at every read, never remembered.
    on<{ PolicyArn: string; Tags: Array<{ Key: string; Value: string }> }>(TagPolicyCommand, 'write', (i) => {
      const p = this.policy(i.PolicyArn);
      p.tags = [...p.tags.filter((t) => !i.Tags.some((n) => n.Key === t.Key)), ...i.Tags];
      return {};
    });
    on<{ PolicyArn: string }>(DeletePolicyCommand, 'write', (i) => {
      const attachedTo = [...this.roles.values(), ...this.users.values()].some((p) => p.attached.includes(i.PolicyArn));
      if (attachedTo) throw new DeleteConflictException({ message: 'Cannot delete a policy attached to entities.', ...meta });
      if (this.policy(i.PolicyArn).versions.length > 1)
        throw new DeleteConflictException({
          message: "This policy has more than one version. Before you delete a policy, you must delete the policy's versions.",
          ...meta,
        });
      this.policies.delete(i.PolicyArn);
      return {};
    });
    const attach = (p: SimPrincipal, arn: string) => {
      this.policy(arn);
      if (p.attached.includes(arn)) return {};
      if (p.attached.length >= this.attachedQuota)
        throw new LimitExceededException({ message: `Cannot exceed quota for PoliciesPerRole: ${this.attachedQuota}`, ...meta });
      p.attached.push(arn);
      return {};
    };
    const detach = (p: SimPrincipal, arn: string) => {
      if (!p.attached.includes(arn)) throw new NoSuchEntityException({ message: `Policy ${arn} was not found.`, ...meta });
      p.attached = p.attached.filter((a) => a !== arn);
      return {};
    };
    on<{ RoleName: string; PolicyArn: string }>(AttachRolePolicyCommand, 'write', (i) => attach(this.principal('role', i.RoleName), i.PolicyArn));
    on<{ UserName: string; PolicyArn: string }>(AttachUserPolicyCommand, 'write', (i) => attach(this.principal('user', i.UserName), i.PolicyArn));
    on<{ RoleName: string; PolicyArn: string }>(DetachRolePolicyCommand, 'write', (i) => detach(this.principal('role', i.RoleName), i.PolicyArn));
    on<{ UserName: string; PolicyArn: string }>(DetachUserPolicyCommand, 'write', (i) => detach(this.principal('user', i.UserName), i.PolicyArn));
    on<{ PathPrefix?: string; Marker?: string }>(ListPoliciesCommand, 'read', (i, s) => {
      const all = [...s.policies.values()].filter((p) => p.path.startsWith(i.PathPrefix ?? '/'));
      const { items, ...rest } = this.page(all, i);
      return { Policies: items.map((p) => ({ Arn: p.arn, PolicyId: p.id, PolicyName: p.name, Path: p.path, DefaultVersionId: p.defaultVersionId })), ...rest };
    });
    on<{ PolicyArn: string; Marker?: string }>(ListEntitiesForPolicyCommand, 'read', (i, s) => {
      const entities = [
        ...[...s.roles.entries()].filter(([, p]) => p.attached.includes(i.PolicyArn)).map(([name]) => ({ kind: 'role', name })),
        ...[...s.users.entries()].filter(([, p]) => p.attached.includes(i.PolicyArn)).map(([name]) => ({ kind: 'user', name })),
      ];
      const { items, ...rest } = this.page(entities, i);
      return {
        PolicyRoles: items.filter((e) => e.kind === 'role').map((e) => ({ RoleName: e.name })),
        PolicyUsers: items.filter((e) => e.kind === 'user').map((e) => ({ UserName: e.name })),
        ...rest,
      };
    });
    return m;
  }
}
