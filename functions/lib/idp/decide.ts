import { parsePrincipalArn } from '../core/arn';
import type { Config } from '../core/config';
import { invalid } from '../core/errors';
import { validateDbUser } from '../core/identifiers';
import type { Person } from './directory';
import type { GroupRef, IdentityChange } from './events';

/**
 * What an identity change means for database access, as data: the onboardings and offboardings
 * that bring the person's database users to what their groups grant now. Pure; the directory was
 * read before. Grants are counted: a target stays while any mapped group of the person grants it.
 */
export type IdpMapping = NonNullable<Config['idp']>;

export type IdpAction =
  | {
      kind: 'onboarding';
      input: {
        target: string;
        principalArn: string;
        dbUser: string;
        dbRoles: string[];
        databases: string[];
        sessionTagKey?: string;
        idpUser: string;
        exclusiveRoles: true;
      };
    }
  | { kind: 'offboarding'; input: { target: string; dbUser: string; principalArn?: string; idpUser?: string } };

export interface Decision {
  actions: IdpAction[];
  /** Why nothing (more) is done, for the log line. */
  note?: string;
}

/** How a person is recorded with the database users created for them: the provider and its user id. */
export const idpUserOf = (change: { source: string; user: { id: string } }): string =>
  `${change.source === 'identity-store' ? 'identity-center' : change.source}:${change.user.id}`;

/** The mapping key of a group: its id, or else its name. */
export const mappedGroup = (idp: IdpMapping, group: GroupRef): string | undefined =>
  Object.hasOwn(idp.groups, group.id) ? group.id : group.name !== undefined && Object.hasOwn(idp.groups, group.name) ? group.name : undefined;

/** Target -> the roles and databases all of the person's mapped groups grant there. */
export const grantedTargets = (idp: IdpMapping, groups: GroupRef[]): Map<string, { dbRoles: string[]; databases: string[] }> => {
  const granted = new Map<string, { dbRoles: Set<string>; databases: Set<string> }>();
  for (const g of groups) {
    const key = mappedGroup(idp, g);
    if (!key) continue;
    const m = idp.groups[key];
    for (const t of m.targets) {
      const entry = granted.get(t) ?? { dbRoles: new Set<string>(), databases: new Set<string>() };
      for (const r of m.dbRoles) entry.dbRoles.add(r);
      for (const d of m.databases) entry.databases.add(d);
      granted.set(t, entry);
    }
  }
  return new Map([...granted].map(([t, e]) => [t, { dbRoles: [...e.dbRoles].sort(), databases: [...e.databases].sort() }]));
};

const render = (template: string, who: { userId: string; userName: string }): string =>
  template.replace(/\{(userName|userNameLocalPart|userId)\}/g, (_, k: string) =>
    k === 'userId' ? who.userId : k === 'userName' ? who.userName : who.userName.split('@')[0],
  );

/** The person's principal and database user, from the mapping's templates, validated like any request. */
export const identityOf = (idp: IdpMapping, who: { userId: string; userName: string }): { principalArn: string; dbUser: string; sessionTagKey?: string } => {
  const dbUser = validateDbUser(render(idp.dbUserTemplate, who), {}, 'idp.dbUserTemplate');
  if (idp.principal.kind === 'shared')
    return { principalArn: parsePrincipalArn(idp.principal.roleArn, 'idp.principal.roleArn').arn, dbUser, sessionTagKey: idp.principal.tagKey };
  return { principalArn: parsePrincipalArn(render(idp.principal.arnTemplate, who), 'idp.principal.arnTemplate').arn, dbUser };
};

/** The onboarding that gives a person exactly what their mapped groups grant on one target. */
export const onboardingOf = (
  { principalArn, dbUser, sessionTagKey }: ReturnType<typeof identityOf>,
  target: string,
  grant: { dbRoles: string[]; databases: string[] },
  idpUser: string,
): IdpAction => ({
  kind: 'onboarding',
  input: {
    target,
    principalArn,
    dbUser,
    dbRoles: grant.dbRoles,
    databases: grant.databases,
    ...(sessionTagKey ? { sessionTagKey } : {}),
    idpUser,
    exclusiveRoles: true,
  },
});

const offboard = (idp: IdpMapping, targets: string[], who: { userId: string; userName: string }, idpUser: string): IdpAction[] => {
  const { principalArn, dbUser, sessionTagKey } = identityOf(idp, who);
  // A shared role keeps its session-tag statement for the other members: only the database user goes.
  // The workflow drops it only if it was recorded for this person (a templated name proves nothing).
  return targets.map((target) => ({ kind: 'offboarding', input: { target, dbUser, ...(sessionTagKey ? {} : { principalArn }), idpUser } }));
};

/**
 * `person` is what the directory shows now (undefined: the provider no longer knows them). For
 * a person gone, the event's own user name (Okta carries the login) is used for the names.
 */
export const decide = (idp: IdpMapping, change: IdentityChange, person: Person | undefined): Decision => {
  if (change.change !== 'membership-added' && change.change !== 'membership-removed') {
    throw invalid('change', `${change.change} is reconciled from the database users recorded for people, not decided from one person`);
  }
  const userName = person?.userName ?? change.user.login;
  if (userName === undefined) return { actions: [], note: `user ${change.user.id} is not in the directory any more and the event does not name them` };
  const who = { userId: change.user.id, userName };
  const idpUser = idpUserOf(change);
  const key = mappedGroup(idp, change.group);
  if (!key) return { actions: [], note: `group ${change.group.name ?? change.group.id} is not mapped` };
  // An add for someone already deactivated or deleted ends in the provider's state: no access.
  if (!person?.active) {
    return {
      actions: offboard(idp, idp.groups[key].targets, who, idpUser),
      note: `${userName} is ${person ? 'deactivated' : 'gone'} in the identity provider`,
    };
  }
  const granted = grantedTargets(idp, person.groups);
  const identity = identityOf(idp, who);
  const actions = idp.groups[key].targets.map((target): IdpAction => {
    const g = granted.get(target);
    return g ? onboardingOf(identity, target, g, idpUser) : offboard(idp, [target], who, idpUser)[0];
  });
  return { actions };
};
