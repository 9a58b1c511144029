import pg from 'pg';
import { inject } from 'vitest';

/** Connection details of the test server started by global-setup.ts. */
export const testPg = () => inject('pg');

/** A superuser connection for assertions (what is really in the catalog), closed by the caller. */
export const superClient = async (database = 'postgres'): Promise<pg.Client> => {
  const s = testPg();
  const client = new pg.Client({ host: s.host, port: s.port, user: s.superUser, password: s.superPassword, database });
  await client.connect();
  return client;
};

export const masterClient = async (database = 'postgres'): Promise<pg.Client> => {
  const s = testPg();
  const client = new pg.Client({ host: s.host, port: s.port, user: s.masterUser, password: s.masterPassword, database });
  await client.connect();
  return client;
};

let counter = 0;
/** A role name no other test uses (roles are cluster-wide and test files run in parallel). */
export const uniqueName = (prefix: string): string => `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;

export interface RoleFacts {
  exists: boolean;
  canLogin?: boolean;
  memberOf: string[];
  comment?: string | null;
  passwordSet?: boolean;
}

export const roleFacts = async (name: string): Promise<RoleFacts> => {
  const c = await superClient();
  try {
    const { rows } = await c.query(
      `SELECT r.rolcanlogin, a.rolpassword IS NOT NULL AS password_set, shobj_description(r.oid, 'pg_authid') AS comment,
              ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
         FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = $1`,
      [name],
    );
    if (!rows[0]) return { exists: false, memberOf: [] };
    return { exists: true, canLogin: rows[0].rolcanlogin, memberOf: rows[0].member_of, comment: rows[0].comment, passwordSet: rows[0].password_set };
  } finally {
    await c.end();
  }
};

/** Explicit CONNECT grantees of a database. */
export const connectGrantees = async (database: string): Promise<string[]> => {
  const c = await superClient();
  try {
    const { rows } = await c.query(
      `SELECT u.rolname::text AS name FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles u ON u.oid = a.grantee
        WHERE d.datname = $1 AND a.privilege_type = 'CONNECT' ORDER BY 1`,
      [database],
    );
    return rows.map((r) => r.name as string);
  } finally {
    await c.end();
  }
};

/** Every role name on the server: compared before and after to prove "nothing changed". */
export const allRoles = async (): Promise<string[]> => {
  const c = await superClient();
  try {
    return (await c.query(`SELECT rolname::text AS name, rolcanlogin, shobj_description(oid, 'pg_authid') AS c FROM pg_roles ORDER BY 1`)).rows.map((r) =>
      JSON.stringify(r),
    );
  } finally {
    await c.end();
  }
};

/** A login as an ordinary role (a password only so tests can log in as it), closed by the caller. */
export const loginClient = async (user: string, password: string, database: string): Promise<pg.Client> => {
  const s = testPg();
  const client = new pg.Client({ host: s.host, port: s.port, user, password, database });
  client.on('error', () => undefined); // terminated by an offboarding, on purpose
  await client.connect();
  return client;
};

/** What a statement does for that login: its rows, or the SQLSTATE it was refused with. */
export const attempt = async (client: pg.Client, sql: string, values: unknown[] = []): Promise<{ rows: unknown[] } | { sqlstate: string }> => {
  try {
    return { rows: (await client.query(sql, values)).rows };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') throw e;
    return { sqlstate: code };
  }
};
