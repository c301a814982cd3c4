import { type Meter, metrics } from '@opentelemetry/api';

/**
 * The meter of Tandem's own instruments. The global meter provider is no proxy: an instrument
 * made before the SDK started stays a no-op, so make instruments when a service is built (in a
 * constructor or factory), not when a module loads.
 */
export function tandemMeter(): Meter {
  return metrics.getMeter('tandem');
}

/** Bucket boundaries in seconds for latencies from a millisecond to a minute. */
export const LATENCY_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Seconds from `since` until now. */
export const secondsSince = (since: Date | number): number =>
  (Date.now() - (typeof since === 'number' ? since : since.getTime())) / 1000;
