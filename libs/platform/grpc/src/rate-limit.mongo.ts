import { isDomainError } from '@tandem/decider';
import { LRUCache } from 'lru-cache';
import { type Collection, type Db, MongoServerError } from 'mongodb';
import type { Logger } from 'pino';
import { MemoryRateLimit, type RateLimit, type RateLimitSpec, rateLimitExceeded } from './rate-limit';

/** One request taken from a key's budget of one window. */
interface Ticket {
  /** `<limit>|<key>|<window>|<n>`: the n-th request (1 to the limit's points) of the window. */
  _id: string;
  /** When the window ends: the ticket is removed after it. */
  expiresAt: Date;
}

const DUPLICATE_KEY = 11000;
const NOT_IMPLEMENTED = 238;
/** How long one store operation may take before the process counts in memory instead. */
const STORE_TIMEOUT_MS = 1_000;
/** After the store failed, how long the process counts in memory before it tries the store again. */
const STORE_RETRY_MS = 5_000;
/** Keys whose next free ticket the process remembers: the busiest ones, past that. */
const REMEMBERED_KEYS = 100_000;

/**
 * The rate limits of one service kept in its MongoDB database (collection `rate_limits`), so that
 * every replica of the service counts against the same budget.
 *
 * Windows are fixed and aligned to the epoch (window w of a key covers [w, w + 1) times the window
 * length). The n-th request of a key in a window inserts the ticket `<limit>|<key>|<w>|<n>`, n from
 * 1 to the limit's points: a request is accepted exactly when it inserts a ticket, and the unique
 * `_id` makes two replicas' inserts of the same ticket meet, one winning. Counting by insert rather
 * than by `$inc` matters on FerretDB, whose updates are not atomic (concurrent `$inc`s on one
 * document lose increments, so rate-limiter-flexible's RateLimiterMongo over-admits there), and every
 * operation is by exact `_id`, the only lookup FerretDB does not scan for. Each process remembers
 * the next ticket to try per key, so a request costs one insert, and a refusal none once the process
 * knows the window is used up; a ticket another replica took is skipped by reading ahead by `_id`.
 *
 * Expired tickets are removed by a TTL index where the server has them (MongoDB) and by `sweep`,
 * which the service runs periodically, where it does not (FerretDB).
 *
 * When the store fails or takes longer than a second, the limits count in this process's memory
 * (the budget then holds per replica, not for all of them) and the store is tried again 5 s later:
 * a rate limit never makes an RPC fail or hang because MongoDB is unavailable.
 */
export class MongoRateLimits {
  private storeDownUntil = 0;

  private constructor(
    private readonly tickets: Collection<Ticket>,
    private readonly logger: Logger,
  ) {}

  /** The rate limits in `db`, with the index that expires their tickets where the server has TTL indexes. */
  static async open(db: Db, logger: Logger): Promise<MongoRateLimits> {
    const tickets = db.collection<Ticket>('rate_limits');
    try {
      await tickets.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    } catch (error) {
      if (!(error instanceof MongoServerError && error.code === NOT_IMPLEMENTED)) throw error;
      await tickets.createIndex({ expiresAt: 1 });
    }
    return new MongoRateLimits(tickets, logger);
  }

  limit(spec: RateLimitSpec): RateLimit {
    return new MongoRateLimit(spec, this.tickets, this);
  }

  /** Removes the tickets of windows that have ended; returns how many. */
  async sweep(now = new Date()): Promise<number> {
    const { deletedCount } = await this.tickets.deleteMany({ expiresAt: { $lte: now } });
    return deletedCount;
  }

  /** Whether to count in memory, because the store failed a moment ago. */
  storeDown(now: number): boolean {
    return now < this.storeDownUntil;
  }

  storeFailed(error: unknown, spec: RateLimitSpec): void {
    const now = Date.now();
    if (!this.storeDown(now)) {
      this.logger.warn(
        { err: error, limit: spec.name },
        'the rate limit store failed; counting in this process for a while',
      );
    }
    this.storeDownUntil = now + STORE_RETRY_MS;
  }
}

/** Where a process stands with a key: the window it last saw and the lowest ticket not known taken. */
interface NextTicket {
  readonly window: number;
  readonly ticket: number;
}

class MongoRateLimit implements RateLimit {
  private readonly namespace: string;
  private readonly windowMs: number;
  private readonly nextTickets = new LRUCache<string, NextTicket>({ max: REMEMBERED_KEYS });
  private readonly inMemory: MemoryRateLimit;

  constructor(
    private readonly spec: RateLimitSpec,
    private readonly tickets: Collection<Ticket>,
    private readonly store: MongoRateLimits,
  ) {
    // Another number of points or window length counts afresh, rather than against other terms.
    this.namespace = `${spec.name}/${spec.points}/${spec.windowSeconds}s`;
    this.windowMs = spec.windowSeconds * 1000;
    this.inMemory = new MemoryRateLimit(spec);
  }

  async consume(key: string): Promise<void> {
    if (this.store.storeDown(Date.now())) return this.inMemory.consume(key);
    try {
      await this.consumeShared(key);
    } catch (error) {
      if (isDomainError(error)) throw error;
      this.store.storeFailed(error, this.spec);
      await this.inMemory.consume(key);
    }
  }

  private async consumeShared(key: string): Promise<void> {
    const now = Date.now();
    const window = Math.floor(now / this.windowMs);
    const expiresAt = new Date((window + 1) * this.windowMs);
    const remembered = this.nextTickets.get(key);
    let ticket = remembered?.window === window ? remembered.ticket : 1;
    const prefix = `${this.namespace}|${key}|${window}|`;
    while (ticket <= this.spec.points) {
      if (await this.take(prefix + ticket, expiresAt)) {
        this.nextTickets.set(key, { window, ticket: ticket + 1 });
        return;
      }
      ticket = await this.firstFreeAfter(prefix, ticket);
    }
    this.nextTickets.set(key, { window, ticket });
    throw rateLimitExceeded(this.spec.what, expiresAt.getTime() - now);
  }

  /** Inserts the ticket; false when another request has it. */
  private async take(id: string, expiresAt: Date): Promise<boolean> {
    try {
      await this.tickets.insertOne({ _id: id, expiresAt }, { timeoutMS: STORE_TIMEOUT_MS });
      return true;
    } catch (error) {
      if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  private async exists(id: string): Promise<boolean> {
    const found = await this.tickets.findOne(
      { _id: id },
      { projection: { _id: 1 }, timeoutMS: STORE_TIMEOUT_MS },
    );
    return found !== null;
  }

  /**
   * The lowest ticket after `taken` that is not taken yet (points + 1 when all are): tickets are
   * taken from the lowest free one up, so they are taken up to some ticket and free beyond, and a
   * search reading ahead in growing steps, then halving, finds it in a few reads by `_id`.
   */
  private async firstFreeAfter(prefix: string, taken: number): Promise<number> {
    const { points } = this.spec;
    let low = taken;
    let step = 1;
    let high = Math.min(low + step, points + 1);
    while (high <= points && (await this.exists(prefix + high))) {
      low = high;
      step *= 2;
      high = Math.min(low + step, points + 1);
    }
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (await this.exists(prefix + middle)) low = middle;
      else high = middle;
    }
    return high;
  }
}
