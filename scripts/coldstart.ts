/**
 * `npm run bench:coldstart`: what each deployed function costs at a cold start, measured on the real artifacts.
 * It packages the stack (`osls package`, offline), reads every function's zip, and for each prints the size of its
 * JavaScript, whether a source map is inside, and its init time: the wall time of a fresh `node` process that loads
 * the handler module with the environment Lambda gives it, the median of COLDSTART_RUNS (default 9), beside the same
 * for an empty handler. Targets (issue 13): JavaScript <= 1 MB, init <= 3x the empty handler's, no map in a zip.
 * About a minute, most of it the packaging; COLDSTART_PACKAGE_DIR reuses a package directory instead.
 * Not modelled: Lambda's own runtime bootstrap and network (both the same for every function, so in the baseline).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { readZip } from './lib/zip';

const ROOT = resolve(__dirname, '..');
const RUNS = Number(process.env.COLDSTART_RUNS ?? 9);
const MAX_JS_BYTES = 1024 * 1024;
const MAX_INIT_RATIO = 3;

/** The environment every function gets in Lambda (serverless.yml provider.environment), with this repo's example targets. */
function lambdaEnvironment(): NodeJS.ProcessEnv {
  const example = readFileSync(join(ROOT, 'config/targets.example.json'), 'utf8');
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'coldstart',
    AWS_SECRET_ACCESS_KEY: 'coldstart',
    TARGETS_CONFIG: JSON.stringify(JSON.parse(example)),
    GRANT_LOCK_TABLE: 'coldstart-locks',
    POWERTOOLS_SERVICE_NAME: 'rds-iam-access',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_NAMESPACE: 'RdsIamAccess/coldstart',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Wall time of a fresh node process that loads `file` and reads its handler, in ms (median of RUNS). */
function initMs(file: string, env: NodeJS.ProcessEnv): number {
  const times: number[] = [];
  const script = `const h = require(${JSON.stringify(file)}).handler; if (typeof h !== 'function') { console.error('no handler'); process.exit(2); }`;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`${file} failed to load (status ${r.status}):\n${r.stderr}`);
    times.push(ms);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

/**
 * What single dependencies cost alone, bundled with the stack's own esbuild options (custom.esbuild, as the package
 * resolved it): the floor a function cannot go under while it uses them. One bare SDK v3 client is most of the 3x
 * budget on its own, which is why the functions that call AWS on every invocation stay over it (docs/design.md).
 */
const FLOORS: Array<{ name: string; source: string }> = [
  { name: 'one SDK client', source: "import { RDSClient } from '@aws-sdk/client-rds'; export const handler = async () => new RDSClient({});" },
  {
    name: 'two SDK clients',
    source:
      "import { RDSClient } from '@aws-sdk/client-rds'; import { SFNClient } from '@aws-sdk/client-sfn'; " +
      'export const handler = async () => [new RDSClient({}), new SFNClient({})];',
  },
  { name: 'pg', source: "import { Client } from 'pg'; export const handler = async () => new Client();" },
  { name: 'zod', source: "import * as z from 'zod'; export const handler = async () => z.object({ a: z.string() });" },
];

async function buildFloors(packageDir: string, work: string): Promise<Array<{ name: string; file: string; js: number }>> {
  const state = JSON.parse(readFileSync(join(packageDir, 'serverless-state.json'), 'utf8')) as {
    service: { custom: { esbuild: { minify: boolean; keepNames: boolean; mainFields: string[]; target: string; exclude: string[] } } };
  };
  const o = state.service.custom.esbuild;
  const out: Array<{ name: string; file: string; js: number }> = [];
  for (const [i, f] of FLOORS.entries()) {
    const file = join(work, `floor-${i}.js`);
    await build({
      stdin: { contents: f.source, resolveDir: ROOT, loader: 'ts' },
      bundle: true,
      minify: o.minify,
      keepNames: o.keepNames,
      mainFields: o.mainFields,
      target: o.target,
      platform: 'node',
      external: o.exclude,
      outfile: file,
      logLevel: 'error',
    });
    out.push({ name: f.name, file, js: readFileSync(file).length });
  }
  return out;
}

function packageStack(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rds-iam-access-coldstart-'));
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'fake', AWS_SECRET_ACCESS_KEY: 'fake', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  delete (env as NodeJS.ProcessEnv).TARGETS_FILE;
  process.stdout.write('packaging the stack (osls package, about 40 s) ...\n');
  const r = spawnSync('npx', ['osls', 'package', '--stage', 'coldstart', '--package', dir], { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`osls package failed (status ${r.status})\n${r.stderr}\n${r.stdout}`);
  return dir;
}

async function main(): Promise<void> {
  const given = process.env.COLDSTART_PACKAGE_DIR;
  const packageDir = given ?? packageStack();
  const work = mkdtempSync(join(tmpdir(), 'rds-iam-access-coldstart-run-'));
  try {
    const env = lambdaEnvironment();
    const empty = join(work, 'empty.js');
    writeFileSync(empty, 'exports.handler = async () => ({});\n');
    const baseline = initMs(empty, env);
    const rows: Array<{ fn: string; js: number; maps: number; init: number }> = [];
    const zips = readdirSync(packageDir)
      .filter((f) => f.endsWith('.zip'))
      .sort();
    if (zips.length === 0) throw new Error(`no function zips in ${packageDir}`);
    for (const zip of zips) {
      const entries = await readZip(join(packageDir, zip));
      const js = entries.filter((e) => e.name.endsWith('.js'));
      const dir = join(work, zip.replace(/\.zip$/, ''));
      for (const e of entries) {
        mkdirSync(join(dir, e.name, '..'), { recursive: true });
        writeFileSync(join(dir, e.name), e.data);
      }
      if (js.length !== 1) throw new Error(`${zip}: expected one bundle, found ${js.map((e) => e.name).join(', ') || 'none'}`);
      process.stdout.write(`  measuring ${zip} ...\r`);
      rows.push({
        fn: zip.replace(/\.zip$/, ''),
        js: js[0].data.length,
        maps: entries.filter((e) => e.name.endsWith('.map')).length,
        init: initMs(join(dir, js[0].name), env),
      });
    }
    const ok = (b: boolean): string => (b ? 'ok' : 'OVER TARGET');
    console.log(`\ncold start per function (${RUNS} fresh processes each, median; empty handler: ${baseline.toFixed(0)} ms)`);
    console.log(
      `  ${'function'.padEnd(18)} ${'JavaScript'.padStart(10)}  (limit 1 ` +
        `MB)   ${'init'.padStart(7)}  ${'x empty'.padStart(7)}  (limit ${MAX_INIT_RATIO}x)   maps in zip`,
    );
    let failures = 0;
    for (const r of rows) {
      const ratio = r.init / baseline;
      const good = r.js <= MAX_JS_BYTES && ratio <= MAX_INIT_RATIO && r.maps === 0;
      if (!good) failures++;
      console.log(
        `  ${r.fn.padEnd(18)} ${`${(r.js / 1024).toFixed(0)} KB`.padStart(10)}  ${ok(r.js <= MAX_JS_BYTES).padEnd(13)} ` +
          `${`${r.init.toFixed(0)} ms`.padStart(7)}  ${ratio.toFixed(2).padStart(6)}x  ${ok(ratio <= MAX_INIT_RATIO).padEnd(13)} ${r.maps}`,
      );
    }
    console.log(`\nfloors: one dependency alone, bundled with the same options (${RUNS} fresh processes each, median)`);
    for (const f of await buildFloors(packageDir, work)) {
      const ratio = initMs(f.file, env) / baseline;
      console.log(
        `  ${f.name.padEnd(18)} ${`${(f.js / 1024).toFixed(0)} KB`.padStart(10)}  ${''.padEnd(13)} ${''.padStart(7)}  ${ratio.toFixed(2).padStart(6)}x  ` +
          `of the ${MAX_INIT_RATIO}x limit`,
      );
    }
    console.log(failures === 0 ? 'every function within its targets' : `${failures} function(s) over a target`);
    if (failures > 0) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (!given) rmSync(packageDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
