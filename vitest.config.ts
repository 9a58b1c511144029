import { defineConfig, type Plugin } from 'vitest/config';

/** A `.sql` file imported by TypeScript is its text, as esbuild's text loader makes it in the bundles (serverless.yml). */
const sqlText: Plugin = {
  name: 'sql-text',
  transform: (code, id) => (id.endsWith('.sql') ? { code: `export default ${JSON.stringify(code)};`, map: null } : undefined),
};

export default defineConfig({
  plugins: [sqlText],
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['dev/polyfills.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  },
});
