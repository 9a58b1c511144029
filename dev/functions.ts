import { FUNCTIONS as SPECS } from '../config/functions';

export interface LocalFunction {
  // The handlers are typed by their own inputs; the interpreter hands them parsed JSON.
  handler: (input: never) => Promise<unknown>;
  /** Opens PostgreSQL connections: gets the reserved concurrency cap, as in serverless.yml. */
  database: boolean;
  /** The logical id of the queue whose event source mapping invokes it (a limiter), if any. */
  queue?: string;
  /** Whose slots that queue has (serverless.yml): dbConcurrency (the database limiter) or iam.grantConcurrency. */
  slots?: 'dbConcurrency' | 'grantConcurrency';
}

type Handler = (input: unknown) => Promise<unknown>;

/**
 * A function's `handler` export, loaded on its first invocation: the list names modules by path, and an import by path
 * is asynchronous. A limiter's step runs here as its `handler` too: the runner plays the queue (dev/simulated-queue.ts).
 */
const lazyHandler = (file: string): Handler => {
  let loaded: Promise<Handler> | undefined;
  const load = async (): Promise<Handler> => {
    // Resolved when it runs (vitest, tsx): the path is data, which vite cannot analyse ahead and need not.
    const module: unknown = await import(/* @vite-ignore */ `../${file}`);
    const handler = (module as { handler?: unknown }).handler;
    if (typeof handler !== 'function') throw new Error(`${file} exports no handler`);
    return handler as Handler;
  };
  return async (input) => (await (loaded ??= load()))(input);
};

/** The functions of the stack by their serverless.yml key (config/functions.ts), bound to the same handler modules. */
export const FUNCTIONS: Record<string, LocalFunction> = Object.fromEntries(
  Object.entries(SPECS).map(([key, f]): [string, LocalFunction] => [
    key,
    { handler: lazyHandler(f.file), database: f.database === true, ...(f.queue ? { queue: f.queue.id, slots: f.queue.slots } : {}) },
  ]),
);
