import { eventHeaders, fromRecord } from '@tandem/event-sourcing';
import type { RecordBatch } from '@tandem/messaging';
import type { PresencePrivacy } from './presence-privacy.projection';
import { fanoutEventCodec } from './presence.codecs';
import type { PresenceBook } from './presence-book';

/**
 * The fanout events presence reads; the rest (acks, receipts, sync copies: most of the topic) are
 * passed over by their header, without decoding them.
 */
const PRESENCE_EVENT_TYPES: ReadonlySet<string> = new Set([
  'DeviceConnected',
  'DeviceDisconnected',
  'InstanceAlive',
  'InboxClosed',
  'MessageAccepted',
]);

/**
 * Reads tandem.fanout.events a partition batch at a time: inbox streams opening and closing,
 * fan-out instances saying they are alive and devices leaving become presence; each message
 * accepted between two accounts makes them contacts (for last-seen privacy). The batch's
 * presence records are written before its offsets are committed, so a crash repeats them rather
 * than losing them; applying an event again changes nothing.
 */
export class FanoutEventsConsumer {
  constructor(
    private readonly book: PresenceBook,
    private readonly privacy: PresencePrivacy,
    private readonly onContacts: (pairs: [string, string][]) => void,
  ) {}

  async applyBatch(batch: RecordBatch): Promise<void> {
    const pairs: [string, string][] = [];
    for (const record of batch.records) {
      const type = record.headers[eventHeaders.eventType];
      if (type !== undefined && !PRESENCE_EVENT_TYPES.has(type)) continue;
      const sender = record.headers[eventHeaders.senderAccount];
      if (type === 'MessageAccepted' && sender !== undefined) {
        if (sender !== record.key) pairs.push([sender, record.key]);
        continue;
      }
      const { metadata, payload } = fromRecord(record);
      if (metadata.payloadType !== fanoutEventCodec.payloadType) continue;
      const event = fanoutEventCodec.decode(payload);
      switch (event.$case) {
        case 'deviceConnected': {
          const { accountId, deviceId, instanceId, connectedAt } = event.value;
          this.book.apply(accountId, {
            type: 'InboxStreamOpened',
            deviceId,
            instanceId,
            at: connectedAt ?? metadata.occurredAt,
          });
          break;
        }
        case 'deviceDisconnected': {
          const { accountId, deviceId, instanceId, disconnectedAt } = event.value;
          this.book.apply(accountId, {
            type: 'InboxStreamClosed',
            deviceId,
            instanceId,
            at: disconnectedAt ?? metadata.occurredAt,
          });
          break;
        }
        case 'instanceAlive': {
          const { instanceId, at, validForMs } = event.value;
          this.book.instanceAlive(instanceId, at ?? metadata.occurredAt, validForMs);
          break;
        }
        case 'inboxClosed':
          this.book.apply(event.value.accountId, {
            type: 'DeviceLeft',
            deviceId: event.value.deviceId,
            at: metadata.occurredAt,
          });
          break;
        case 'messageAccepted':
          if (event.value.senderAccountId !== event.value.accountId) {
            pairs.push([event.value.senderAccountId, event.value.accountId]);
          }
          break;
        default:
          break;
      }
    }
    const learned = await this.privacy.learnContacts(pairs);
    if (learned.length > 0) this.onContacts(learned);
    await this.book.flush();
  }
}
