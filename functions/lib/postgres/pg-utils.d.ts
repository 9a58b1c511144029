/**
 * pg's escaping functions without the driver: `pg/lib/utils` is a public export of pg (package.json "exports"),
 * and importing it instead of `pg` keeps the connection code out of functions that only render SQL (the api's dry
 * runs and reviews). @types/pg declares them only on the package root.
 */
declare module 'pg/lib/utils' {
  export function escapeIdentifier(str: string): string;
  export function escapeLiteral(str: string): string;
}
