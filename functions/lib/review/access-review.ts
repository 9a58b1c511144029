import { type PrincipalArn, sameRoleOrUser } from '../core/arn';
import type { ResolvedTargetConfig } from '../core/config';
import type { ProjectGrantPolicy } from '../iam/grants';
import { MARKER_ROLE, RDS_IAM_ROLE } from '../core/identifiers';
import type { ResolvedTarget } from '../rds/target';
import { parseRoleComment } from '../postgres/ddl';
import type { ObjectDecision } from '../postgres/reassign';
import type { DatabaseReview } from '../postgres/review';

/**
 * The access review: for each target, every database user this project manages and who can
 * connect as it through this project's policies, with what does not match flagged. Pure: the
 * database and IAM were read before.
 */
export interface GrantOnTarget {
  dbUser: string;
  /** The principal the policy is provably this project's grant policy for (name, path and creation tag); undefined: not ours. */
  principalArn?: string;
  /** Ours, named the way versions before the principal tag named policies. */
  legacy?: boolean;
  policyArn: string;
  attached: boolean;
  /** Who it is attached to now (roles and users without path). */
  attachedTo: string[];
}

export interface ReviewedUser {
  dbUser: string;
  login: boolean;
  groupRoles: string[];
  /** The request that created it and the principal it was created for (its role comment). */
  createdBy?: string;
  createdFor?: string;
  /** Principals whose attached project policies allow rds-db:connect as this user. */
  principals: Array<{ principalArn?: string; policyArn: string }>;
  passwordSet: boolean | null;
  flags: string[];
  /** What offboarding it would quarantine, disable or refuse rather than hand to the successor. */
  unsafeObjects: Array<Omit<ObjectDecision, 'owner'>>;
}

export interface ReviewedGrant extends GrantOnTarget {
  flags: string[];
}

export interface TargetReview {
  target: string;
  kind: string;
  identifier: string;
  resourceId: string;
  users: ReviewedUser[];
  /** Every rds-db:connect grant of this project on the target. */
  grants: ReviewedGrant[];
  /** The quarantine role and what it holds (objects of offboarded users, kept, that nobody may use). */
  quarantine: { role: string; objects: Array<{ database: string; kind: string; name: string }> };
}

export interface AccessReview {
  generatedAt: string;
  filter: { target?: string; principalArn?: string };
  targets: TargetReview[];
  summary: { users: number; grants: number; flagged: number };
}

/** The project's grants whose resource is a database user of this target. */
export const grantsOnTarget = (policies: ProjectGrantPolicy[], db: ResolvedTarget): GrantOnTarget[] => {
  const prefix = `arn:${db.partition}:rds-db:${db.region}:${db.accountId}:dbuser:${db.resourceId}/`;
  return policies.flatMap((p) =>
    p.grants
      .filter((g) => g.startsWith(prefix))
      .map((g) => ({
        dbUser: g.slice(prefix.length),
        ...(p.principalArn ? { principalArn: p.principalArn } : {}),
        ...(p.legacy ? { legacy: true } : {}),
        policyArn: p.policyArn,
        attached: p.attached,
        attachedTo: p.attachedTo,
      })),
  );
};

export const reviewTarget = (
  target: ResolvedTargetConfig,
  db: ResolvedTarget,
  database: DatabaseReview,
  grants: GrantOnTarget[],
  principal?: PrincipalArn,
): TargetReview => {
  const managed = new Map(database.managed.map((r) => [r.name, r]));
  const existing = new Set(database.existing);
  const expectedGroups = new Set([MARKER_ROLE, RDS_IAM_ROLE, ...target.allowedDbRoles]);
  const concerns = (arn: string | undefined): boolean => !principal || sameRoleOrUser(arn, principal.arn);

  // Who can connect is who the policy is attached to, whatever its description says.
  const holders = (g: GrantOnTarget): Array<{ principalArn?: string; policyArn: string }> =>
    g.attachedTo
      .filter((a) => !a.includes(':group/'))
      .map((a) => ({ principalArn: sameRoleOrUser(a, g.principalArn) ? g.principalArn : a, policyArn: g.policyArn }));
  const users: ReviewedUser[] = database.managed.map((r) => {
    const connect = grants.filter((g) => g.dbUser === r.name).flatMap(holders);
    const comment = parseRoleComment(r.comment);
    const unsafe = (database.unsafeObjects ?? []).filter((o) => o.owner === r.name).map(({ owner: _owner, ...o }) => o);
    const flags = [
      ...(connect.length === 0 ? ['no-iam-grant'] : []),
      ...(!r.canLogin ? ['login-disabled'] : []),
      ...(r.superuser ? ['superuser'] : []),
      ...r.privileged.map((p) => `privileged:${p}`),
      ...(!r.memberOf.includes(RDS_IAM_ROLE) ? ['not-in-rds_iam'] : []),
      ...r.memberOf.filter((g) => !expectedGroups.has(g)).map((g) => `extra-membership:${g}`),
      ...(r.passwordSet ? ['password-set'] : []),
      ...(!comment ? ['no-creation-record'] : []),
      ...(unsafe.length ? ['owns-unsafe-objects'] : []),
    ];
    return {
      dbUser: r.name,
      login: r.canLogin,
      groupRoles: r.memberOf.filter((g) => g !== MARKER_ROLE && g !== RDS_IAM_ROLE),
      ...(comment ? { createdBy: comment.createdBy, ...(comment.principal ? { createdFor: comment.principal } : {}) } : {}),
      principals: connect,
      passwordSet: r.passwordSet,
      flags,
      unsafeObjects: unsafe,
    };
  });

  const reviewedGrants: ReviewedGrant[] = grants.map((g) => ({
    ...g,
    flags: [
      ...(!existing.has(g.dbUser) ? ['dangling-grant'] : !managed.has(g.dbUser) ? ['grant-to-unmanaged-user'] : []),
      ...(!g.attached ? ['unattached-policy'] : []),
      // Under our path but not provably ours (anyone with iam:CreatePolicy can put one there): never edited, never acted on.
      ...(g.principalArn === undefined ? ['not-project-policy'] : []),
      ...(g.legacy ? ['legacy-policy-name'] : []),
      // Attached by hand to someone else than the principal it was written for, or to a group (everyone in it).
      ...g.attachedTo.filter((a) => a.includes(':group/')).map((a) => `attached-to-group:${a.split('/').pop()}`),
      ...g.attachedTo.filter((a) => !a.includes(':group/') && !sameRoleOrUser(a, g.principalArn)).map((a) => `attached-elsewhere:${a}`),
    ],
  }));

  return {
    target: target.name,
    kind: db.kind,
    identifier: db.identifier,
    resourceId: db.resourceId,
    users: users.filter((u) => !principal || u.principals.some((p) => concerns(p.principalArn)) || concerns(u.createdFor)),
    grants: reviewedGrants.filter((g) => concerns(g.principalArn) || g.attachedTo.some(concerns)),
    quarantine: { role: target.reassignment.quarantineRole, objects: database.quarantined ?? [] },
  };
};

export const accessReview = (targets: TargetReview[], filter: AccessReview['filter'], now = new Date()): AccessReview => ({
  generatedAt: now.toISOString(),
  filter,
  targets,
  summary: {
    users: targets.reduce((n, t) => n + t.users.length, 0),
    grants: targets.reduce((n, t) => n + t.grants.length, 0),
    flagged: targets.reduce((n, t) => n + t.users.filter((u) => u.flags.length).length + t.grants.filter((g) => g.flags.length).length, 0),
  },
});

const CSV_COLUMNS = ['target', 'resource_id', 'db_user', 'db_user_managed', 'login', 'group_roles', 'principal_arn', 'policy_arn', 'flags'] as const;

/** One field: quoted when needed; a leading = + - @ is neutralised so spreadsheets do not run it as a formula. */
const csvField = (v: string): string => {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** The review as CSV (RFC 4180): a row per database user and principal, and a row per grant without a managed user. */
export const accessReviewCsv = (review: AccessReview): string => {
  const rows: string[][] = [];
  for (const t of review.targets) {
    for (const u of t.users) {
      const principals = u.principals.length ? u.principals : [{ principalArn: '', policyArn: '' }];
      for (const p of principals)
        rows.push([t.target, t.resourceId, u.dbUser, 'true', String(u.login), u.groupRoles.join(';'), p.principalArn ?? '', p.policyArn, u.flags.join(';')]);
    }
    for (const g of t.grants.filter((x) => x.flags.length)) {
      const managed = !g.flags.some((f) => f === 'dangling-grant' || f === 'grant-to-unmanaged-user');
      rows.push([t.target, t.resourceId, g.dbUser, String(managed), '', '', g.principalArn ?? '', g.policyArn, g.flags.join(';')]);
    }
  }
  return `${[CSV_COLUMNS as readonly string[], ...rows].map((r) => r.map(csvField).join(',')).join('\r\n')}\r\n`;
};
