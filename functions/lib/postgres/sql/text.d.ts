/**
 * A `.sql` file imported by TypeScript is its text: esbuild's text loader (serverless.yml custom.esbuild.loader),
 * vitest.config.ts's sql-text plugin and dev/sql-text.cjs under tsx all give the file's contents as the default export.
 */
declare module '*.sql' {
  const text: string;
  export default text;
}
