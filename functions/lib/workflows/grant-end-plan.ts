import { sameRoleOrUser } from '../core/arn';

/** What the user held before a grant was activated (standing access, or another grant's), recorded at activation. */
export interface HeldBefore {
  dbRoles: string[];
  databases: string[];
  canLogin: boolean;
  /** The principal already had the rds-db:connect statement for this database user. */
  connectStatement: boolean;
}

/** A grant of one database user (one target, one dbUser) as the request store holds it. */
export interface UserGrant {
  requestId: string;
  principalArn: string;
  dbRoles: string[];
  databases: string[];
  /** ISO 8601; absent for access without an end. */
  expiresAt?: string;
}

export interface EndingGrant extends UserGrant {
  /** Absent when activation recorded nothing (an older record, a lost write): the end then takes all it gave. */
  heldBefore?: HeldBefore;
}

export interface GrantEndPlan {
  revokeRoles: string[];
  revokeDatabases: string[];
  blockLogin: boolean;
  /** Remove the principal's rds-db:connect statement for this database user. */
  removeConnect: boolean;
  /** The other grants whose access the end keeps, by request id. */
  keptFor: string[];
}

/**
 * What the end of one grant takes away: only what neither another live grant of the same user nor what the user held
 * before covers. A grant whose expiresAt has passed counts as ended even while its own end is still running, so two
 * grants ending together do not keep each other's access alive. It fails closed: without a record of what was held
 * before, the end takes everything the grant gave. One planner for the end step and its dry run.
 */
export const planGrantEnd = (ending: EndingGrant, others: readonly UserGrant[], now: Date): GrantEndPlan => {
  const live = others.filter((g) => g.requestId !== ending.requestId && (g.expiresAt === undefined || Date.parse(g.expiresAt) > now.getTime()));
  const before = ending.heldBefore ?? { dbRoles: [], databases: [], canLogin: false, connectStatement: false };
  const roles = new Set([...before.dbRoles, ...live.flatMap((g) => g.dbRoles)]);
  const databases = new Set([...before.databases, ...live.flatMap((g) => g.databases)]);
  return {
    revokeRoles: [...new Set(ending.dbRoles)].filter((r) => !roles.has(r)).sort(),
    revokeDatabases: [...new Set(ending.databases)].filter((d) => !databases.has(d)).sort(),
    blockLogin: live.length === 0 && !before.canLogin,
    removeConnect: !before.connectStatement && !live.some((g) => sameRoleOrUser(g.principalArn, ending.principalArn)),
    keptFor: live.map((g) => g.requestId).sort(),
  };
};
