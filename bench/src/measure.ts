import { performance } from 'node:perf_hooks';

export interface Figures {
  readonly operations: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * Runs `operation(i, worker)` for i in [0, count) on `concurrency` workers, each running one
 * operation at a time; times each operation and the whole.
 */
export async function measure(
  count: number,
  concurrency: number,
  operation: (index: number, worker: number) => Promise<unknown>,
): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let index = next++; index < count; index = next++) {
        const begin = performance.now();
        await operation(index, worker);
        latencies.push(performance.now() - begin);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    operations: count,
    seconds,
    perSecond: count / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

export function report(name: string, figures: Figures): void {
  const row = [
    name.padEnd(48),
    `${figures.perSecond.toFixed(0).padStart(7)} ops/s`,
    `p50 ${figures.p50Ms.toFixed(2).padStart(7)} ms`,
    `p99 ${figures.p99Ms.toFixed(2).padStart(7)} ms`,
    `(${figures.operations} in ${figures.seconds.toFixed(2)} s)`,
  ];
  console.log(row.join('  '));
}

/** What `createWithin` made, how many failed and how long it took. */
export interface Created<T> {
  readonly created: T[];
  readonly failures: number;
  readonly firstError?: unknown;
  readonly seconds: number;
}

/**
 * Runs `create(index)` on `concurrency` workers until `count` were made or `budgetSeconds` have
 * passed (none starts after that). Failures are counted and left out.
 */
export async function createWithin<T>(
  count: number,
  concurrency: number,
  budgetSeconds: number,
  create: (index: number) => Promise<T>,
): Promise<Created<T>> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const created: T[] = [];
  let failures = 0;
  let firstError: unknown;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let index = next++; index < count && elapsed() < budgetSeconds; index = next++) {
        try {
          created.push(await create(index));
        } catch (error) {
          failures++;
          firstError ??= error;
        }
      }
    }),
  );
  return { created, failures, firstError, seconds: elapsed() };
}
