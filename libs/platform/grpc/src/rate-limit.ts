import { DomainError } from '@tandem/decider';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** A budget of `points` requests per `windowSeconds` for each key (an address, an account, a device). */
export interface RateLimitSpec {
  /** Tells the limit from the service's others where they share a store, e.g. `begin-link`. */
  readonly name: string;
  /** What is counted, for the refusal: `too many ${what}; retry in 3 s`. */
  readonly what: string;
  readonly points: number;
  readonly windowSeconds: number;
}

/**
 * A per-key budget of requests. Past it, a request is refused with RESOURCE_EXHAUSTED and the delay
 * until it may try again (`retryAfterMs` in the details, the trailing metadata `retry-after-ms`).
 */
export interface RateLimit {
  consume(key: string): Promise<void>;
}

/** The refusal of a request past its budget, `msBeforeNext` before the budget allows one again. */
export function rateLimitExceeded(what: string, msBeforeNext: number): DomainError {
  const retryAfterMs = Math.max(1, Math.ceil(msBeforeNext));
  return new DomainError(
    'resource-exhausted',
    `too many ${what}; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
    undefined,
    { retryAfterMs },
  );
}

/**
 * A rate limit kept in this process's memory (rate-limiter-flexible's RateLimiterMemory): a key's
 * window starts with its first request. For embedded mode, where one process serves everything,
 * and as the stand-in while a shared store does not answer.
 */
export class MemoryRateLimit implements RateLimit {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly spec: RateLimitSpec) {
    this.limiter = new RateLimiterMemory({ points: spec.points, duration: spec.windowSeconds });
  }

  async consume(key: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      throw rateLimitExceeded(this.spec.what, rejection.msBeforeNext);
    }
  }
}
