import { InboxSignal } from '@tandem/contracts/tandem/fanout/v1/signals';
import type { EventLog, Subscription } from '@tandem/messaging';
import type { Logger } from '@tandem/observability';
import type { Worker } from '@tandem/runtime';
import type { AppendedEntries } from './inboxes.projection';
import type { InboxStreams, StreamAnnouncer } from './inbox-streams';

type Signal = NonNullable<InboxSignal['signal']>;

/**
 * What the fan-out instances of one installation tell each other about inbox streams, through
 * tandem.fanout.signals: a device's stream may be on any instance, while its inbox is written by
 * the instance that consumes the device's account partition. Every instance reads every signal
 * (a consumer group of its own, from the end) and passes over its own. Signals matter for
 * moments only: one that cannot be published is logged and not retried.
 */
/** The topic the fan-out instances signal each other on (distributed mode), after the prefix. */
export const SIGNALS_TOPIC = 'tandem.fanout.signals';

export class InboxSignals implements StreamAnnouncer {
  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
    private readonly instanceId: string,
    private readonly logger: Logger,
  ) {}

  /** Hands the entries just appended to devices' inboxes to the other instances' streams. */
  entriesAppended(appended: readonly AppendedEntries[]): void {
    this.publish(
      appended.map(({ accountId, deviceId, entries }) => ({
        $case: 'entriesAppended',
        value: { accountId, deviceId, entries: [...entries] },
      })),
    );
  }

  /** Says which devices' inboxes got entries stored: streams elsewhere read what they missed. */
  entriesStored(appended: readonly AppendedEntries[]): void {
    this.publish(
      appended.map(({ accountId, deviceId, entries }) => ({
        $case: 'entriesStored',
        value: { accountId, deviceId, lastSequence: entries.at(-1)?.sequence ?? 0 },
      })),
    );
  }

  /** Says that a device opened a stream here. */
  streamOpened(accountId: string, deviceId: number, streamId: string, openedAt: Date): void {
    this.publish([{ $case: 'streamOpened', value: { accountId, deviceId, streamId, openedAt } }]);
  }

  /** Publishes signals from this instance without waiting; a failure is logged. */
  private publish(signals: readonly Signal[]): void {
    this.send(signals).catch((error: unknown) =>
      this.logger.warn({ err: error }, 'publishing an inbox signal failed'),
    );
  }

  /** Publishes signals from this instance, each keyed by the account it is about. */
  private async send(signals: readonly Signal[]): Promise<void> {
    await this.log.publish(
      this.topic,
      signals.map((signal) => ({
        key: signal.value.accountId,
        value: InboxSignal.encode({ originInstanceId: this.instanceId, signal }).finish(),
      })),
    );
  }

  /** Reads the other instances' signals and passes them to the streams here. */
  worker(groupId: string, streams: InboxStreams): Worker {
    let subscription: Subscription | undefined;
    return {
      name: 'fanout.signals',
      start: async () => {
        subscription = await this.log.subscribe({
          groupId,
          topics: [this.topic],
          fromBeginning: false,
          onBatch: async (batch) => {
            for (const record of batch.records) {
              const { originInstanceId, signal } = InboxSignal.decode(record.value);
              if (originInstanceId === this.instanceId || !signal) continue;
              if (signal.$case === 'entriesStored') {
                streams.wake(signal.value.accountId, signal.value.deviceId);
              } else if (signal.$case === 'entriesAppended') {
                const { accountId, deviceId, entries } = signal.value;
                streams.appended([{ accountId, deviceId, entries }]);
              } else {
                const { accountId, deviceId, streamId, openedAt } = signal.value;
                streams.openedElsewhere(accountId, deviceId, streamId, openedAt ?? new Date(0));
              }
            }
          },
        });
      },
      stop: async () => {
        await subscription?.stop();
      },
    };
  }
}
