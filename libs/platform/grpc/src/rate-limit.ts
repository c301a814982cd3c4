import { DomainError } from '@tandem/decider';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * A per-key budget of requests (rate-limiter-flexible): `points` requests per `durationSeconds`
 * window. Past it, a request is refused with RESOURCE_EXHAUSTED and the delay until it may try
 * again. The budget is kept by each process.
 */
export class RateLimit {
  private readonly limiter: RateLimiterMemory;

  constructor(
    private readonly what: string,
    points: number,
    durationSeconds: number,
  ) {
    this.limiter = new RateLimiterMemory({ points, duration: durationSeconds });
  }

  async consume(key: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const retryAfterMs = rejection.msBeforeNext;
      throw new DomainError(
        'resource-exhausted',
        `too many ${this.what}; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
        undefined,
        { retryAfterMs },
      );
    }
  }
}
