import { randomUUID } from 'node:crypto';
import { type Decider, fold } from '@tandem/decider';
import type { EventCodec } from './event-codec';
import { ConcurrencyError, type EventStore, type NewEvent } from './event-store.port';

/** Where a command comes from: ids that tie its events to the request and its trace. */
export interface CommandContext {
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

export interface CommandResult<E, S> {
  /** The events this command recorded; empty when it changed nothing. */
  readonly events: E[];
  /** The state after the command. */
  readonly state: S;
  /** The stream's version after the command. */
  readonly version: number;
}

export interface CommandHandlerOptions {
  /** Attempts before a command that keeps losing optimistic-concurrency races gives up. */
  readonly maxAttempts?: number;
  /** Called after every append, e.g. to wake the outbox relay. */
  readonly onAppended?: () => void;
}

/** Thrown when a command lost the race for its stream `maxAttempts` times in a row. */
export class TooMuchContentionError extends Error {
  constructor(readonly streamId: string) {
    super(`stream ${streamId} changed under every attempt; try again`);
    this.name = 'TooMuchContentionError';
  }
}

/**
 * The one generic command handler: load the stream, fold it, decide, append with the version
 * read, and on a concurrency conflict do it all again with the new events. It holds no business
 * rules; the decider does.
 */
export class CommandHandler<C, E, S> {
  private readonly maxAttempts: number;

  constructor(
    private readonly store: EventStore,
    private readonly decider: Decider<C, E, S>,
    private readonly codec: EventCodec<E>,
    private readonly options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
  }

  /** The stream's current state and version. */
  async load(streamId: string): Promise<{ state: S; version: number }> {
    const stored = await this.store.readStream(streamId);
    const events = stored.map((event) => this.codec.decode(event.payload));
    return { state: fold(this.decider, events), version: stored.at(-1)?.version ?? 0 };
  }

  /**
   * Runs a command against a stream. `command` may be a function of the current state, for
   * commands that need lookups depending on what the stream holds; it runs again on every attempt,
   * so its lookups are never older than the state they were made for.
   */
  async handle(
    streamId: string,
    command: C | ((state: S) => C | Promise<C>),
    context: CommandContext,
  ): Promise<CommandResult<E, S>> {
    for (let attempt = 1; ; attempt++) {
      const { state, version } = await this.load(streamId);
      const resolved =
        typeof command === 'function' ? await (command as (state: S) => C | Promise<C>)(state) : command;
      const events = this.decider.decide(resolved, state);
      if (events.length === 0) return { events, state, version };
      try {
        const next = await this.store.appendToStream(
          streamId,
          version,
          events.map((event) => this.toNewEvent(event, context)),
        );
        this.options.onAppended?.();
        return { events, state: fold(this.decider, events, state), version: next };
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
        if (attempt >= this.maxAttempts) throw new TooMuchContentionError(streamId);
      }
    }
  }

  private toNewEvent(event: E, context: CommandContext): NewEvent {
    return {
      eventId: randomUUID(),
      type: this.codec.typeOf(event),
      partitionKey: this.codec.partitionKeyOf(event),
      occurredAt: new Date(),
      correlationId: context.correlationId,
      causationId: context.causationId,
      traceparent: context.traceparent ?? '',
      tracestate: context.tracestate ?? '',
      payload: this.codec.encode(event),
    };
  }
}
