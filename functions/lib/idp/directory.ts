import type { GroupRef, UserRef } from './events';

/**
 * A person as the identity provider shows them now: events say what changed, the directory says
 * what is true, so a late, early or repeated event still ends in the provider's current state.
 */
export interface Person {
  userId: string;
  userName: string;
  active: boolean;
  /** Every group the person belongs to now, with names where the provider has them. */
  groups: GroupRef[];
}

export interface IdentityDirectory {
  /** Undefined when the provider no longer knows the person (deleted). */
  person: (user: UserRef) => Promise<Person | undefined>;
  /**
   * Everyone in any of `groups` now (by id, or by name when the mapping names it), each with those of `groups` they are
   * in: what a reconcile of the whole mapping needs, in a few paged listings instead of two reads per person. Only
   * where reconciling the whole mapping is supported.
   */
  everyone?: (groups: GroupRef[]) => Promise<Map<string, Person>>;
}
