import type { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import { fromRecord } from '@tandem/event-sourcing';
import type { TandemConfig } from '@tandem/config';
import type { EventLog, Subscription, TopicSpec } from '@tandem/messaging';
import {
  applyTyping,
  decideTyping,
  emptyTypingBoard,
  expireTyping,
  type TypingBoard,
  typingInChat,
  type TypingUpdate,
} from '@tandem/presence-domain';
import type { Worker } from '@tandem/runtime';
import { eventRecord, typingEventCodec } from './presence.codecs';

/** How long typing records are kept: typing matters for seconds. */
const TYPING_RETENTION_MS = 60_000;

/** The short-lived topic of typing updates. */
export const typingTopic = (config: TandemConfig): TopicSpec => ({
  name: `${config.topicPrefix}tandem.presence.typing`,
  partitions: config.topicPartitions,
  retentionMs: TYPING_RETENTION_MS,
});

export interface TypingOptions {
  readonly log: EventLog;
  /** tandem.presence.typing, kept for a minute. */
  readonly topic: string;
  readonly clock: () => Date;
  readonly typingMs: number;
  /** Told of every change a chat's subscribers should hear of. */
  readonly onUpdate: (update: TypingUpdate) => void;
}

/**
 * Typing: SetTyping writes a TypingChanged to the short-lived typing topic; every presence instance
 * reads that topic (a consumer group of its own, from the end) into a board of the indicators
 * that hold, tells subscribers, and ends indicators nobody renewed in a sweep, without writing
 * anything. So typing reaches a subscriber on any instance and is never stored for long.
 */
export class TypingIndicators {
  private board: TypingBoard = emptyTypingBoard();

  constructor(private readonly options: TypingOptions) {}

  /** A device says what its account does in a chat; returns when a TYPING or RECORDING ends. */
  async set(
    device: { accountId: string; deviceId: number },
    chatAccountId: string,
    state: TypingState,
    correlationId: string,
  ): Promise<Date | undefined> {
    const now = this.options.clock();
    const change = decideTyping({
      type: 'SetTyping',
      accountId: device.accountId,
      deviceId: device.deviceId,
      chatAccountId,
      state,
      now,
      typingMs: this.options.typingMs,
    });
    await this.options.log.publish(this.options.topic, [
      eventRecord(
        typingEventCodec,
        { $case: 'typingChanged', value: change },
        { aggregateId: device.accountId, version: 0, occurredAt: now, correlationId },
      ),
    ]);
    return change.expiresAt;
  }

  /** What `accounts` type or record in their chats with `chatAccountId` now. */
  inChat(chatAccountId: string, accounts: readonly string[]): TypingUpdate[] {
    return typingInChat(this.board, chatAccountId, accounts);
  }

  /** Ends the indicators that were not renewed in time. */
  sweep(): void {
    const { board, ended } = expireTyping(this.board, this.options.clock());
    this.board = board;
    for (const update of ended) this.options.onUpdate(update);
  }

  /** Reads the typing topic from its end, with a consumer group of this instance alone. */
  worker(groupId: string): Worker {
    let subscription: Subscription | undefined;
    return {
      name: 'presence.typing',
      start: async () => {
        subscription = await this.options.log.subscribe({
          groupId,
          topics: [this.options.topic],
          fromBeginning: false,
          onBatch: async (batch) => {
            for (const record of batch.records) {
              const { metadata, payload } = fromRecord(record);
              if (metadata.payloadType !== typingEventCodec.payloadType) continue;
              const event = typingEventCodec.decode(payload);
              const { board, update } = applyTyping(this.board, event.value, this.options.clock());
              this.board = board;
              if (update) this.options.onUpdate(update);
            }
          },
        });
      },
      stop: async () => {
        await subscription?.stop();
        subscription = undefined;
      },
    };
  }
}
