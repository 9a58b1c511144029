/**
 * esbuild plugins of the function bundles (serverless.yml custom.esbuild.plugins).
 *
 * pg/lib/stream.js asks at import time whether it runs in Cloudflare Workers: where `navigator` is missing (Node 20)
 * it builds a `new Response(...)`, which loads Node's whole fetch implementation (undici): 20-40 ms of every cold
 * start of a function that bundles pg, measured with `npm run bench:coldstart` on Node 20 (issue 13). Lambda is never
 * Cloudflare Workers, so the bundles take the Node.js stream functions directly. On Node 22 (the deployed runtime)
 * `navigator` exists and the check was already cheap: there the change saves nothing and costs nothing.
 * The build fails when pg's file no longer has the expected call, so an upgrade cannot silently bring the check back.
 */
const { readFile } = require('node:fs/promises');

const CLOUDFLARE_CHECK = 'if (isCloudflareRuntime()) {';

const pgNodeStreams = {
  name: 'pg-node-streams',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(CLOUDFLARE_CHECK)) {
        throw new Error(`${args.path}: expected "${CLOUDFLARE_CHECK}" (config/esbuild-plugins.js): pg changed, revisit the plugin`);
      }
      return { contents: source.replace(CLOUDFLARE_CHECK, 'if (false) {'), loader: 'js' };
    });
  },
};

module.exports = [pgNodeStreams];
