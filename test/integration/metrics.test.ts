/**
 * Powertools Metrics (EMF) after real runs: requests started through the same start code the API and the
 * identity-provider function use, the real state machines, the archive function on each end (as EventBridge delivers
 * it), and the EMF lines read back from stdout, as CloudWatch Logs would read them.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler as archiveHandler } from '../../functions/execution-archive';
import { startRequest } from '../../functions/lib/core/executions';
import { METRIC, SERVICE_NAME } from '../../functions/lib/core/metrics';
import { createSandbox, type Sandbox } from '../../dev/sandbox';
import { superClient, testPg, uniqueName } from '../support/pg';

const NAMESPACE = 'RdsIamAccess/test';
const ENV = { POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_METRICS_NAMESPACE: NAMESPACE, ARCHIVE_BUCKET: 'metrics-test-archive' };

interface EmfLine {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
  [key: string]: unknown;
}

let sb: Sandbox;
let lines: EmfLine[];
let previous: Record<string, string | undefined>;

beforeEach(() => {
  sb = createSandbox({ pg: testPg(), waitMs: 1, retryMs: 5 });
  sb.sfn.onExecutionEnd = (event) => archiveHandler(event as never);
  previous = Object.fromEntries(['ONBOARD_STATE_MACHINE_ARN', 'OFFBOARD_STATE_MACHINE_ARN', ...Object.keys(ENV)].map((k) => [k, process.env[k]]));
  Object.assign(process.env, ENV, { ONBOARD_STATE_MACHINE_ARN: sb.sfn.arns.onboard, OFFBOARD_STATE_MACHINE_ARN: sb.sfn.arns.offboard });
  lines = [];
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
    for (const l of text.split('\n')) if (l.startsWith('{"_aws"')) lines.push(JSON.parse(l) as EmfLine);
    return write(chunk as string, ...(rest as []));
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  sb.restore();
  for (const [k, v] of Object.entries(previous)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** Each EMF line as one metric: its name, value, unit and dimension values (Powertools' single-metric lines). */
const points = () =>
  lines.flatMap((l) =>
    l._aws.CloudWatchMetrics.flatMap((d) =>
      d.Metrics.map((m) => ({
        namespace: d.Namespace,
        name: m.Name,
        unit: m.Unit,
        value: l[m.Name],
        dimensions: Object.fromEntries(d.Dimensions.flat().map((k) => [k, l[k]])),
        requestId: l.requestId,
        errorCode: l.errorCode,
      })),
    ),
  );

const start = async (kind: 'onboarding' | 'offboarding', input: Record<string, unknown> & { requestId: string }) => {
  const deps = { sfn: new SFNClient({ region: 'eu-west-1' }), stateMachines: { onboarding: sb.sfn.arns.onboard, offboarding: sb.sfn.arns.offboard } };
  const r = await startRequest(deps, kind, input);
  expect(r.started).toBe(true);
  await Promise.all(sb.sfn.deliveries);
};

describe('metrics (Powertools EMF) after real runs', () => {
  it(
    'counts started, succeeded and failed requests by kind, target and error code, with their duration, ' +
      'sessions ended, objects reassigned and grants per principal',
    async () => {
      const role = uniqueName('Metered');
      const principalArn = sb.aws.iam.addRole(role);
      const on = uniqueName('req');
      await start('onboarding', { requestId: on, principalArn, target: 'orders', dbRoles: ['app_read'], databases: ['app'] });
      // Something for offboarding to hand to the successor.
      const c = await superClient('app');
      await c.query(`CREATE TABLE "${role}_t" (id int); ALTER TABLE "${role}_t" OWNER TO "${role}"`).finally(() => c.end());
      const off = uniqueName('req');
      await start('offboarding', { requestId: off, principalArn, dbUser: role, target: 'orders' });
      // A target whose IAM authentication may never be turned on: the run fails with IamAuthDisabled.
      const failed = uniqueName('req');
      await start('onboarding', { requestId: failed, principalArn: sb.aws.iam.addRole(uniqueName('Frozen')), target: 'frozen' });

      const all = points();
      expect(all.length).toBeGreaterThan(0);
      for (const p of all) {
        expect(p.namespace).toBe(NAMESPACE);
        expect(p.dimensions.service).toBe(SERVICE_NAME);
      }
      const of = (name: string) => all.filter((p) => p.name === name);
      expect(of(METRIC.requestsStarted).map((p) => [p.requestId, p.dimensions])).toEqual([
        [on, { service: SERVICE_NAME, kind: 'onboarding', target: 'orders' }],
        [off, { service: SERVICE_NAME, kind: 'offboarding', target: 'orders' }],
        [failed, { service: SERVICE_NAME, kind: 'onboarding', target: 'frozen' }],
      ]);
      expect(of(METRIC.requestsSucceeded).map((p) => [p.requestId, p.value, p.dimensions])).toEqual([
        [on, 1, { service: SERVICE_NAME, kind: 'onboarding', target: 'orders' }],
        [off, 1, { service: SERVICE_NAME, kind: 'offboarding', target: 'orders' }],
      ]);
      expect(of(METRIC.requestsFailed).map((p) => [p.requestId, p.value, p.dimensions])).toEqual([
        [failed, 1, { service: SERVICE_NAME, kind: 'onboarding', target: 'frozen', errorCode: 'IamAuthDisabled' }],
      ]);
      // Not a retryable code: its retries were not what ran out.
      expect(of(METRIC.retriesExhausted)).toEqual([]);
      const durations = of(METRIC.requestDuration);
      expect(durations.map((p) => p.requestId)).toEqual([on, off, failed]);
      for (const d of durations) expect(d).toMatchObject({ unit: 'Milliseconds', value: expect.any(Number) });
      expect(of(METRIC.grantsPerPrincipal).map((p) => [p.value, p.dimensions])).toEqual([[1, { service: SERVICE_NAME }]]);
      expect(of(METRIC.sessionsTerminated).map((p) => [p.value, p.dimensions])).toEqual([[0, { service: SERVICE_NAME, target: 'orders' }]]);
      expect(of(METRIC.objectsReassigned).map((p) => [p.value, p.dimensions])).toEqual([[1, { service: SERVICE_NAME, target: 'orders' }]]);
    },
  );

  it('writes nothing when POWERTOOLS_METRICS_DISABLED is true (tests and local mode)', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    await start('onboarding', { requestId: uniqueName('req'), principalArn: sb.aws.iam.addRole(uniqueName('Quiet')), target: 'orders' });
    expect(lines).toEqual([]);
  });
});
