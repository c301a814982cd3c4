/** Where adapters report errors they handle themselves (retries, redeliveries) instead of throwing. */
export type ErrorReporter = (
  message: string,
  error: unknown,
  context: Readonly<Record<string, unknown>>,
) => void;

/** The default reporter: one JSON line on stderr. */
export const reportToStderr: ErrorReporter = (message, error, context) => {
  const err =
    error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : error;
  console.error(
    JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: message, err, ...context }),
  );
};

/** Exponential backoff: `initialMs` after the first failure, doubling up to `maxMs`. */
export interface RetryBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export function backoffDelay(backoff: RetryBackoff, failures: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));
}
