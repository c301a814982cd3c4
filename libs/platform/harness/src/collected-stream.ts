import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';

/** A server-streaming call whose items are collected as they arrive, so a test can wait for one. */
export class CollectedStream<T> {
  readonly items: T[] = [];
  /** When each item arrived (Date.now()), by index. */
  readonly receivedAt: number[] = [];
  /** Set once the stream ended, normally or with an error. */
  ended = false;
  /** The status the stream failed with; undefined while open or after a normal end. */
  error: ServiceError | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly call: ClientReadableStream<T>,
    private readonly describeItems: (items: readonly T[]) => string = (items) => JSON.stringify(items),
  ) {
    call.on('data', (item: T) => {
      this.items.push(item);
      this.receivedAt.push(Date.now());
      this.notify();
    });
    call.on('error', (error: ServiceError) => {
      this.error = error;
      this.ended = true;
      this.notify();
    });
    call.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  /**
   * Resolves with what `find` finds in the items so far, as soon as it finds something; rejects
   * when the stream ends first (with its error status, if any) or after `timeoutMs`.
   */
  until<R>(find: (items: readonly T[]) => R | undefined, timeoutMs = 15_000): Promise<R> {
    return new Promise<R>((resolvePromise, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      const check = () => {
        let found: R | undefined;
        try {
          found = find(this.items);
        } catch (error) {
          finish(() => reject(error as Error));
          return;
        }
        if (found !== undefined) finish(() => resolvePromise(found));
        else if (this.ended)
          finish(() => reject(this.error ?? new Error(`stream ended: ${this.describe()}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`nothing found in ${timeoutMs} ms: ${this.describe()}`))),
        timeoutMs,
      );
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the end of the stream. */
  async closed(timeoutMs = 15_000): Promise<void> {
    await this.until(() => (this.ended ? true : undefined), timeoutMs);
  }

  cancel(): void {
    this.call.cancel();
  }

  /** The items so far, for error messages. */
  describe(): string {
    return this.describeItems(this.items);
  }

  private notify() {
    for (const listener of [...this.listeners]) listener();
  }
}
