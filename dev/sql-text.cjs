/**
 * Under tsx (`npm start`, the scripts), a `.sql` file imported by TypeScript is its text, as esbuild's text loader
 * makes it in the bundles (serverless.yml custom.esbuild.loader) and vitest.config.ts's plugin in the tests. tsx
 * compiles this package's TypeScript to CommonJS, so the import is a require(): a require hook is all it takes.
 * Loaded with `--require ./dev/sql-text.cjs` (package.json scripts); Node 20 has no synchronous ESM hooks
 * (module.registerHooks), and none are needed while the package is CommonJS.
 */
const { readFileSync } = require('node:fs');

require.extensions['.sql'] = (module, filename) => {
  module.exports = readFileSync(filename, 'utf8');
};
