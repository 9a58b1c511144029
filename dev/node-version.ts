/**
 * The Node.js versions this project supports: 22 and later, what its dependencies declare (engines) and what
 * Lambda runs (nodejs22.x). Node.js 20 reached its end of life on 2026-04-30; it still runs local mode and the
 * tests (this is not enforced, so a machine on 20 keeps working), but gets a notice instead of silence.
 */
export const SUPPORTED_NODE_MAJOR = 22;

/** The notice for an unsupported version, or undefined on a supported one. */
export const nodeVersionNotice = (version: string = process.version): string | undefined => {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (Number.isInteger(major) && major >= SUPPORTED_NODE_MAJOR) return undefined;
  return (
    `Note: Node.js ${version} is not supported (end of life); use Node.js ${SUPPORTED_NODE_MAJOR} or ` +
    `later, as Lambda (nodejs22.x) and the dependencies do ("nvm use" reads .nvmrc). Local mode and the ` +
    `tests still run on it.`
  );
};
