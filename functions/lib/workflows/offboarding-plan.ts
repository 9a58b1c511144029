import { ddl, offboardDdl, type SqlStep } from '../postgres/ddl';

/**
 * The offboarding's order, once. The three steps that change something run in this order in
 * statemachines/offboard.asl.json (test/unit/workflows/offboarding-plan.test.ts follows the state machine and compares), and the dry
 * run lists its steps phase by phase in the same order; what each phase does in the database comes from the
 * functions below, which the steps themselves run.
 */
export const OFFBOARDING_ORDER = ['DeactivateDbUser', 'RevokeConnect', 'RetireDbUser'] as const;
export type OffboardingPhase = (typeof OFFBOARDING_ORDER)[number];

/**
 * One database's part of RetireDbUser: the reassignment's own statements (quarantine, disable), then everything else
 * to the successor, then the user's remaining privileges dropped. REASSIGN first: DROP OWNED alone would drop the
 * user's tables and their rows. `counted`: where, and how many objects go to the successor, when known (the dry run says it).
 */
export const retireInDatabase = (
  dbUser: string,
  successor: string,
  reassignment: readonly SqlStep[],
  counted?: { database: string; toSuccessor: number },
): SqlStep[] => {
  const reassign = offboardDdl.reassignOwned(dbUser, successor);
  return [
    ...reassignment,
    counted
      ? { ...reassign, purpose: `give the ${counted.toSuccessor} object(s) ${dbUser} still owns in database ${counted.database} to ${successor}` }
      : reassign,
    offboardDdl.dropOwned(dbUser),
  ];
};

/** What an offboarding finds before it starts: the facts each phase decides on (read-only, as the dry run reads them). */
export interface OffboardingFacts {
  canLogin: boolean;
  /** Open sessions, ended by DeactivateDbUser: one statement ends them all. */
  sessions: number;
  terminateSessionsSql: string;
  /** Cluster-wide statements RetireDbUser runs first in the admin database (the admin's privileges, the quarantine role). */
  retirePrelude: SqlStep[];
  /** Per database, the reassignment's own statements and how many objects go to the successor. */
  databases: Array<{ database: string; reassignment: SqlStep[]; toSuccessor: number }>;
}

export interface PlannedSql {
  database: string;
  step: SqlStep;
}

/**
 * Pure: the database statements of every phase, as the steps run them. `undefined` facts: the user does not exist,
 * nothing to do in the database (the IAM phase may still have grants to remove).
 */
export const planOffboarding = (
  dbUser: string,
  successor: string,
  adminDatabase: string,
  facts: OffboardingFacts | undefined,
): Record<OffboardingPhase, PlannedSql[]> => {
  const inAdmin = (steps: SqlStep[]): PlannedSql[] => steps.map((step) => ({ database: adminDatabase, step }));
  if (!facts) return { DeactivateDbUser: [], RevokeConnect: [], RetireDbUser: [] };
  return {
    DeactivateDbUser: inAdmin([
      ...(facts.canLogin ? [offboardDdl.blockLogin(dbUser)] : []),
      ...(facts.sessions > 0 ? [{ sql: facts.terminateSessionsSql, purpose: `end the ${facts.sessions} open session(s) of ${dbUser}` }] : []),
    ]),
    // IAM only: the caller adds the policy changes.
    RevokeConnect: [],
    RetireDbUser: [
      ...inAdmin(facts.retirePrelude),
      ...facts.databases.flatMap(({ database, reassignment, toSuccessor }) =>
        retireInDatabase(dbUser, successor, reassignment, { database, toSuccessor }).map((step) => ({ database, step })),
      ),
      ...inAdmin([ddl.dropRole(dbUser)]),
    ],
  };
};
