/**
 * The embedded server restarts as a failover or reboot does (`npm run soak` restarts it mid-run): open
 * sessions end with 57P01, the server comes back on the same port, and what was committed is still there.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedLocalPostgres, startLocalPostgres } from '../../dev/embedded-postgres';

let server: EmbeddedLocalPostgres;

beforeAll(async () => {
  server = await startLocalPostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe('EmbeddedLocalPostgres.restart', () => {
  it('ends open sessions (57P01), keeps the data, and serves again on the same port', async () => {
    const before = new pg.Client({ connectionString: server.url(server.superUser) });
    await before.connect();
    await before.query('CREATE ROLE survives_restart NOLOGIN');
    const lost = new Promise<string | undefined>((resolve) => before.on('error', (e) => resolve((e as Error & { code?: string }).code)));

    await server.restart(200);

    expect(await lost).toBe('57P01');
    await before.end().catch(() => undefined);
    const after = new pg.Client({ connectionString: server.url(server.superUser) });
    await after.connect();
    try {
      expect((await after.query('SELECT 1 FROM pg_roles WHERE rolname = $1', ['survives_restart'])).rowCount).toBe(1);
    } finally {
      await after.end();
    }
  });
});
