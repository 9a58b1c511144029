import 'vitest';
import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from '../../dev/embedded-postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { host: string; port: number; masterUser: string; masterPassword: string; superUser: string; superPassword: string };
  }
}

/** One real PostgreSQL server for the whole run; tests use distinct role names to stay independent. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startLocalPostgres();
  const { host, port, masterUser, masterPassword, superUser, superPassword } = server;
  project.provide('pg', { host, port, masterUser, masterPassword, superUser, superPassword });
  return () => server.stop();
}
