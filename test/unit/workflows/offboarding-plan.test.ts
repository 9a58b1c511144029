import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OFFBOARDING_ORDER, planOffboarding, retireInDatabase } from '../../../functions/lib/workflows/offboarding-plan';

/** Task states of a state machine in the order an execution reaches them (following Next, Choices and Default). */
const taskOrder = (file: string): string[] => {
  const def = JSON.parse(readFileSync(join(resolve(__dirname, '../../..'), 'statemachines', file), 'utf8')) as {
    StartAt: string;
    States: Record<string, { Type: string; Next?: string; Default?: string; Choices?: Array<{ Next: string }> }>;
  };
  const seen: string[] = [];
  const queue = [def.StartAt];
  while (queue.length) {
    const name = queue.shift() as string;
    if (seen.includes(name)) continue;
    seen.push(name);
    const s = def.States[name];
    queue.push(...[s.Next, ...(s.Choices ?? []).map((c) => c.Next), s.Default].filter((n): n is string => typeof n === 'string'));
  }
  return seen.filter((n) => def.States[n].Type === 'Task');
};

describe('the offboarding order, once (functions/lib/workflows/offboarding-plan.ts)', () => {
  it('is the order offboard.asl.json runs its changing steps in', () => {
    expect(taskOrder('offboard.asl.json').filter((n) => (OFFBOARDING_ORDER as readonly string[]).includes(n))).toEqual([...OFFBOARDING_ORDER]);
  });

  it("in every database REASSIGN OWNED comes before DROP OWNED, after the reassignment's own statements", () => {
    const own = [{ sql: 'ALTER FUNCTION f() OWNER TO q', purpose: 'quarantine f' }];
    expect(retireInDatabase('leaver', 'data_owner', own).map((s) => s.sql)).toEqual([
      'ALTER FUNCTION f() OWNER TO q',
      'REASSIGN OWNED BY "leaver" TO "data_owner"',
      'DROP OWNED BY "leaver"',
    ]);
  });

  it('the plan of a user that exists: login blocked and sessions ended first, the role dropped last, in the admin database', () => {
    const plan = planOffboarding('leaver', 'data_owner', 'postgres', {
      canLogin: true,
      sessions: 2,
      terminateSessionsSql: 'SELECT pg_terminate_backend(pid) ...',
      retirePrelude: [{ sql: 'GRANT "leaver" TO CURRENT_USER', purpose: 'act as leaver' }],
      databases: [
        { database: 'postgres', reassignment: [], toSuccessor: 0 },
        { database: 'app', reassignment: [], toSuccessor: 3 },
      ],
    });
    expect(plan.DeactivateDbUser.map((p) => p.step.sql)).toEqual(['ALTER ROLE "leaver" NOLOGIN', 'SELECT pg_terminate_backend(pid) ...']);
    expect(plan.RetireDbUser.map((p) => `${p.database}: ${p.step.sql}`)).toEqual([
      'postgres: GRANT "leaver" TO CURRENT_USER',
      'postgres: REASSIGN OWNED BY "leaver" TO "data_owner"',
      'postgres: DROP OWNED BY "leaver"',
      'app: REASSIGN OWNED BY "leaver" TO "data_owner"',
      'app: DROP OWNED BY "leaver"',
      'postgres: DROP ROLE "leaver"',
    ]);
    expect(plan.RetireDbUser[3].step.purpose).toBe('give the 3 object(s) leaver still owns in database app to data_owner');
  });

  it('a user that does not exist: nothing in the database', () => {
    expect(planOffboarding('gone', 'data_owner', 'postgres', undefined)).toEqual({ DeactivateDbUser: [], RevokeConnect: [], RetireDbUser: [] });
  });
});
