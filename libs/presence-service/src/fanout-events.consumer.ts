import { eventHeaders, fromRecord } from '@tandem/event-sourcing';
import type { RecordBatch } from '@tandem/messaging';
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
]);

/**
 * Reads tandem.fanout.events a partition batch at a time: inbox streams opening and closing,
 * fan-out instances saying they are alive and devices leaving become presence (the contacts
 * messages make are presencePrivacy's, from the same group). The batch's
 * presence records are written before its offsets are committed, so a crash repeats them rather
 * than losing them; applying an event again changes nothing.
 */
export class FanoutEventsConsumer {
  constructor(private readonly book: PresenceBook) {}

  async applyBatch(batch: RecordBatch): Promise<void> {
    for (const record of batch.records) {
      const type = record.headers[eventHeaders.eventType];
      if (type !== undefined && !PRESENCE_EVENT_TYPES.has(type)) continue;
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
        default:
          break;
      }
    }
    await this.book.flush();
  }
}
