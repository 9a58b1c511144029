/**
 * A lost admin connection is transient (issue 11, item 2): the server ends the session between two statements (a
 * failover, an operator, the watchdog of another run), the driver reports it without a SQLSTATE, and the step must
 * fail with TransientDatabaseError, which the state machines retry, not with a permanent DatabaseError.
 */
import { describe, expect, it } from 'vitest';
import { withAdminConnection } from '../../functions/lib/postgres/connection';
import { ensureDbUser } from '../../functions/lib/postgres/onboard';
import { superClient, testPg, uniqueName } from '../support/pg';

const config = () => {
  const { host, port, masterUser, masterPassword } = testPg();
  return { host, port, user: masterUser, password: masterPassword, database: 'postgres' };
};

/** Ends the session `pid` from outside, as a failover or an operator would, and waits until it is gone. */
const endSession = async (pid: number): Promise<void> => {
  const sup = await superClient();
  try {
    await sup.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
  } finally {
    await sup.end();
  }
};

const failureOf = async (p: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> => {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a failure');
};

describe('a session ended between two statements', () => {
  it('is TransientDatabaseError, saying the connection was lost', async () => {
    const e = await failureOf(
      withAdminConnection(config(), async (client) => {
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await endSession(pid);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await client.query('SELECT 1');
      }),
    );
    expect(e.code).toBe('TransientDatabaseError');
    expect(e.details).toMatchObject({ connectionLost: true });
  });

  it('also when the step had already called it a DatabaseError (ensureDbUser on a lost connection), and the retry succeeds', async () => {
    const spec = { dbUser: uniqueName('lost'), requestId: uniqueName('req'), dbRoles: [], databases: [], protectedNames: {} };
    const e = await failureOf(
      withAdminConnection(config(), async (client) => {
        await endSession((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid);
        await new Promise((resolve) => setTimeout(resolve, 100));
        return ensureDbUser(client, spec);
      }),
    );
    expect(e.code).toBe('TransientDatabaseError');
    const retried = await withAdminConnection(config(), (client) => ensureDbUser(client, spec));
    expect(retried.outcome).toBe('created');
  });

  it('a server error on a live connection keeps its SQLSTATE classification (not made transient)', async () => {
    const e = await failureOf(withAdminConnection(config(), (client) => client.query('SELECT * FROM no_such_table_anywhere')));
    expect(e.code).toBe('DatabaseError');
    expect(e.details).toMatchObject({ sqlstate: '42P01' });
  });

  it('a connection refused is transient; a wrong password is not', async () => {
    expect((await failureOf(withAdminConnection({ ...config(), port: 1 }, async () => undefined))).code).toBe('TransientDatabaseError');
    expect((await failureOf(withAdminConnection({ ...config(), password: 'wrong' }, async () => undefined))).code).toBe('AdminLacksPrivilege');
  });
});
