/**
 * docs/runbook.md's cost section cannot drift from the code: its counts are those of a real onboarding and
 * offboarding through the state machines, with the arithmetic redone from them (its error-code table:
 * test/unit/core/runbook.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { statePath } from '../../dev/asl-runner';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { testPg, uniqueName } from '../support/pg';
import { rowsOf } from '../support/runbook';

describe('docs/runbook.md', () => {
  describe('cost of one run', () => {
    let sb: Sandbox;
    beforeEach(() => {
      sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
    });
    afterEach(() => sb.restore());

    const yml = readFileSync(join(resolve(__dirname, '../..'), 'serverless.yml'), 'utf8');
    // Lambda's list price per GB-second depends on the architecture the provider sets.
    const arch = /^ {2}architecture: (\w+)$/m.exec(yml)?.[1];
    const PRICE = { transition: 0.000025, request: 0.0000002, gbSecond: arch === 'arm64' ? 0.0000133334 : 0.0000166667 };
    // The provider's memorySize (every function has it): the duration price is per GB-second.
    const MEMORY_GB = Number(/^ {2}memorySize: (\d+)$/m.exec(yml)?.[1]) / 1024;
    const money = (cell: string): number => Number(cell.replace('$', ''));

    it('states the transitions and invocations of a real onboarding and offboarding, and the dollars they cost at list prices', async () => {
      const [onRow, offRow] = rowsOf('## Cost of one run');
      const principalArn = sb.aws.iam.addRole(uniqueName('Cost'));
      const invocations = () => Object.values(sb.runner.stats.invocations).reduce((a, b) => a + b, 0);

      const i0 = invocations();
      const on = await sb.runner.run('onboard', uniqueName('cost-on'), {
        requestId: uniqueName('cost-on'),
        principalArn,
        target: 'orders',
        dbRoles: ['app_read'],
        databases: ['app'],
      });
      expect(on.status, `${on.error}: ${on.cause}`).toBe('SUCCEEDED');
      const i1 = invocations();
      const dbUser = (on.output as { dbUser: string }).dbUser;
      const off = await sb.runner.run('offboard', uniqueName('cost-off'), { requestId: uniqueName('cost-off'), target: 'orders', dbUser, principalArn });
      expect(off.status, `${off.error}: ${off.cause}`).toBe('SUCCEEDED');
      const i2 = invocations();

      // The tasks the state machine invoked, plus the api call that started the run and the archive call after it.
      const measured = [
        { row: onRow, transitions: statePath(on).length, lambdas: i1 - i0 + 2 },
        { row: offRow, transitions: statePath(off).length, lambdas: i2 - i1 + 2 },
      ];
      for (const { row, transitions, lambdas } of measured) {
        const [run, t, l, tCost, rCost, dCost, total] = row;
        expect(Number(t), `${run}: transitions`).toBe(transitions);
        expect(Number(l), `${run}: Lambda invocations`).toBe(lambdas);
        expect(money(tCost), `${run}: transitions $`).toBeCloseTo(transitions * PRICE.transition, 7);
        expect(money(rCost), `${run}: requests $`).toBeCloseTo(lambdas * PRICE.request, 8);
        expect(money(dCost), `${run}: duration $`).toBeCloseTo(lambdas * MEMORY_GB * 1 * PRICE.gbSecond, 7);
        expect(money(total), `${run}: total $`).toBeCloseTo(money(tCost) + money(rCost) + money(dCost), 6);
      }
    });
  });
});
