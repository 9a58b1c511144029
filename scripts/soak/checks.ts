import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { awsErrorName, isTransientAwsError } from '../../functions/lib/core/aws-errors';
import { isErrorCode, isProvisioningError, RETRYABLE_CODES } from '../../functions/lib/core/errors';
import { MARKER_ROLE } from '../../functions/lib/core/identifiers';
import { expandSql } from '../../functions/lib/postgres/sql';
import { isTransientPgError, sqlstateOf } from '../../functions/lib/postgres/sqlstate';
import type { SimulatedAws } from '../../dev/simulated-aws';

/**
 * What the soak checks after the run: orphans (IAM grant and PostgreSQL role out of step), rows
 * lost from the leavers' tables, and why each failure happened.
 */

/** Roles this project created (members of its marker role; the admin's ADMIN OPTION on it is no membership), and whether they can log in. */
export const MANAGED_ROLES = expandSql(`
SELECT DISTINCT r.rolname::text AS name, r.rolcanlogin AS can_login
  FROM pg_roles r
  JOIN pg_auth_members m ON m.member = r.oid
  JOIN pg_roles marker ON marker.oid = m.roleid
 WHERE marker.rolname = $1
   AND {{is-membership(m)}}`);

export const SEED_TABLE = (table: string): string[] => [
  `CREATE TABLE IF NOT EXISTS public.${escapeIdentifier(table)} (id int PRIMARY KEY, note text NOT NULL)`,
  `INSERT INTO public.${escapeIdentifier(table)} SELECT g, 'seed row ' || g FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING`,
];
export const GRANT_TABLE = (table: string, grantee: string): string =>
  `GRANT SELECT, UPDATE ON public.${escapeIdentifier(table)} TO ${escapeIdentifier(grantee)}`;
export const GIVE_TABLE = (table: string, owner: string): string => `ALTER TABLE public.${escapeIdentifier(table)} OWNER TO ${escapeIdentifier(owner)}`;

/** A seed table now: its owner and rows, or nothing when it is gone. */
export const TABLE_NOW = `
SELECT pg_get_userbyid(c.relowner) AS owner
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relname = $1 AND c.relkind = 'r'`;
export const COUNT_ROWS = (table: string): string => `SELECT count(*)::int AS n FROM public.${escapeIdentifier(table)}`;

export interface SeedTable {
  database: string;
  name: string;
  dbUser: string;
  rows: number;
}

export interface Orphan {
  kind: 'grant without database user' | 'grant to a blocked (NOLOGIN) user' | 'database user without grant';
  dbUser: string;
  target?: string;
  principal?: string;
}

export interface Grant {
  target: string;
  dbUser: string;
  principal: string;
}

/** Who can connect now: managed roles (LOGIN or not) in PostgreSQL, connect statements in the simulated IAM. */
export interface Access {
  roles: Map<string, boolean>;
  grants: Grant[];
}

/** The grants of every principal in the simulated IAM: (target, dbUser) from each connect statement's resource. */
const grantsInIam = (aws: SimulatedAws, targetOfResource: Map<string, string>): Grant[] => {
  const out: Grant[] = [];
  for (const [type, all] of [
    ['role', aws.iam.roles],
    ['user', aws.iam.users],
  ] as const) {
    for (const name of all.keys()) {
      for (const resource of aws.iam.connectGrants(type, name)) {
        const m = /:dbuser:([^/]+)\/(.+)$/.exec(resource);
        if (m) out.push({ target: targetOfResource.get(m[1]) ?? m[1], dbUser: m[2], principal: `${type}/${name}` });
      }
    }
  }
  return out;
};

export const readAccess = async (admin: pg.Client, aws: SimulatedAws, targetOfResource: Map<string, string>): Promise<Access> => ({
  roles: new Map((await admin.query<{ name: string; can_login: boolean }>(MANAGED_ROLES, [MARKER_ROLE])).rows.map((r) => [r.name, r.can_login])),
  grants: grantsInIam(aws, targetOfResource),
});

export const orphansOf = (access: Access): Orphan[] => {
  const orphans: Orphan[] = [];
  for (const g of access.grants) {
    const login = access.roles.get(g.dbUser);
    if (login === undefined) orphans.push({ kind: 'grant without database user', ...g });
    else if (!login) orphans.push({ kind: 'grant to a blocked (NOLOGIN) user', ...g });
  }
  const granted = new Set(access.grants.map((g) => g.dbUser));
  for (const [name, login] of access.roles) if (login && !granted.has(name)) orphans.push({ kind: 'database user without grant', dbUser: name });
  return orphans;
};

/** One user's end state: with login and grant, neither, or out of step (an orphan). */
export const stateOf = (access: Access, dbUser: string): 'present' | 'absent' | 'orphan' => {
  const login = access.roles.get(dbUser);
  const granted = access.grants.some((g) => g.dbUser === dbUser);
  if (login === true && granted) return 'present';
  // NOLOGIN without a grant is an offboarded user whose role had to stay (something still depends on it).
  if (login !== true && !granted) return 'absent';
  return 'orphan';
};

export interface RowsCheck {
  seeded: number;
  present: number;
  tables: number;
  /** Tables of users that are gone, held by anyone but the successor (it should have them all). */
  notWithSuccessor: string[];
}

export const checkRows = async (clientFor: (database: string) => Promise<pg.Client>, seeds: SeedTable[], successor: string): Promise<RowsCheck> => {
  const result: RowsCheck = { seeded: 0, present: 0, tables: seeds.length, notWithSuccessor: [] };
  for (const s of seeds) {
    result.seeded += s.rows;
    const c = await clientFor(s.database);
    const owner = (await c.query<{ owner: string }>(TABLE_NOW, [s.name])).rows[0]?.owner;
    if (owner === undefined) continue;
    result.present += (await c.query<{ n: number }>(COUNT_ROWS(s.name))).rows[0].n;
    // A number for an owner: the role was dropped with the table still pointing at it (cannot happen; said if it does).
    if (owner !== s.dbUser && owner !== successor) result.notWithSuccessor.push(`${s.database}.${s.name} (owner ${owner})`);
  }
  return result;
};

// ---------------------------------------------------------------- why a step failed

const chainOf = (e: unknown): unknown[] => {
  const chain: unknown[] = [];
  for (let c = e; c !== undefined && c !== null && chain.length < 10; c = (c as { cause?: unknown }).cause) chain.push(c);
  return chain;
};

const isAwsSdkError = (e: unknown): boolean => typeof (e as { $metadata?: unknown } | undefined)?.$metadata === 'object';

/**
 * What in a step's error shows an injected (transient) fault, or undefined when nothing does: a
 * retryable project code, a lost connection, a transient SQLSTATE or socket error, a transient AWS
 * error, or a plain driver Error without a code (node-postgres reports a lost connection so).
 */
export const transientEvidence = (e: unknown): string | undefined => {
  for (const c of chainOf(e)) {
    if (isProvisioningError(c) && c.details?.connectionLost) return 'connection lost';
    if (isProvisioningError(c) && c.retryable) return c.code;
    if (isAwsSdkError(c) && isTransientAwsError(c)) return awsErrorName(c);
    if (!isAwsSdkError(c) && isTransientPgError(c)) return `SQLSTATE ${sqlstateOf(c)}`;
  }
  const root = chainOf(e).at(-1);
  if (root instanceof Error && root.name === 'Error' && sqlstateOf(root) === undefined && !isAwsSdkError(root) && !isProvisioningError(root))
    return 'driver error without SQLSTATE';
  return undefined;
};

/** An execution's error is a project code, or the state machine's own for a failed compensation. */
export const isProjectCode = (code: string): boolean => isErrorCode(code) || code === 'CompensationFailed';

/** A failure that only says it ran out of retries of a retryable condition. */
export const isRetryableCode = (code: string): boolean => (RETRYABLE_CODES as readonly string[]).includes(code) || code === 'Lambda.TooManyRequestsException';

/** The error's own code (name), the first SQLSTATE or errno in its chain, and a short description of the chain, for the report. */
export const describeError = (e: unknown): { code: string; sqlstate?: string; text: string } => {
  const chain = chainOf(e);
  const code = (chain[0] as Error | undefined)?.name ?? typeof e;
  const parts = chain.map((c) => {
    const err = c as Error;
    const state = sqlstateOf(c);
    return `${err?.name ?? typeof c}${state ? ` ${state}` : ''}: ${(err?.message ?? String(c)).slice(0, 160)}`;
  });
  const sqlstate = chain
    .filter((c) => !isProvisioningError(c))
    .map(sqlstateOf)
    .find((x) => x !== undefined);
  return { code, ...(sqlstate ? { sqlstate } : {}), text: parts.join(' <- ') };
};
