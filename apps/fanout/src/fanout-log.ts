import { createHash, randomUUID } from 'node:crypto';
import type { DeliveryReceipt } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { type CommandContext, eventHeaders, toRecord } from '@tandem/event-sourcing';
import type { FanoutDomainEvent } from '@tandem/fanout-domain';
import type { EventLog, OutgoingRecord } from '@tandem/messaging';
import { fanoutEventCodec } from './fanout.codecs';
import type { AcksToRecord } from './inboxes.projection';

/** A UUID-shaped id derived from `parts`: the same parts give the same id on every instance. */
export function derivedId(...parts: readonly string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The server message id of a device's message: one per (account, device, client message id). */
export const serverMessageIdOf = (accountId: string, deviceId: number, clientMessageId: string): string =>
  derivedId('message', accountId, String(deviceId), clientMessageId);

/** An event to append, with the id it is recognised by when it is appended twice. */
export interface LogAppend {
  readonly event: FanoutDomainEvent;
  readonly eventId: string;
  readonly occurredAt: Date;
}

/**
 * tandem.fanout.events as the message store: accepted messages, acks and delivery receipts are
 * appended to it directly, one record each, without the event store and its relay; the log append
 * is their durability point, and the inbox projection folds them into every device's inbox.
 * (Rarer changes, such as system entries and expiry, still go through the event store.)
 */
export class FanoutLog {
  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
  ) {}

  /**
   * Appends the events, each keyed by the account whose inboxes it changes; resolves once durable.
   */
  async append(appends: readonly LogAppend[], context: CommandContext): Promise<void> {
    await this.log.publish(
      this.topic,
      appends.map((append) => this.recordOf(append, context)),
    );
  }

  /**
   * Records that devices processed entries, one record per device (by id, through a sequence, or
   * both): an ack for the instance that folds the account, or acks that instance applied in memory.
   */
  async recordAcks(acks: readonly AcksToRecord[], context: CommandContext): Promise<void> {
    if (acks.length === 0) return;
    const now = new Date();
    await this.append(
      acks.map(({ accountId, deviceId, throughSequence, serverMessageIds }) => ({
        eventId: randomUUID(),
        occurredAt: now,
        event: {
          $case: 'inboxAcked',
          value: {
            accountId,
            deviceId,
            serverMessageIds: [...serverMessageIds],
            throughSequence,
            ackedAt: now,
          },
        },
      })),
      context,
    );
  }

  /** Issues the gathered delivery receipts, one record per account that sent the messages. */
  async issueReceipts(
    receipts: ReadonlyMap<string, readonly DeliveryReceipt[]>,
    devices: ReadonlyMap<string, readonly number[]>,
    context: CommandContext,
  ): Promise<void> {
    const now = new Date();
    await this.append(
      [...receipts].map(([accountId, gathered]) => {
        const serverMessageId = randomUUID();
        return {
          eventId: serverMessageId,
          occurredAt: now,
          event: {
            $case: 'receiptIssued',
            value: {
              accountId,
              serverMessageId,
              receipt: undefined,
              receipts: [...gathered],
              deviceIds: [...(devices.get(accountId) ?? [])],
            },
          },
        };
      }),
      context,
    );
  }

  private recordOf({ event, eventId, occurredAt }: LogAppend, context: CommandContext): OutgoingRecord {
    const record = toRecord(
      {
        eventId,
        type: fanoutEventCodec.typeOf(event),
        partitionKey: fanoutEventCodec.partitionKeyOf(event),
        occurredAt,
        correlationId: context.correlationId,
        causationId: context.causationId,
        traceparent: context.traceparent ?? '',
        tracestate: context.tracestate ?? '',
        payload: fanoutEventCodec.encode(event),
        streamId: fanoutEventCodec.partitionKeyOf(event),
        version: 0,
      },
      fanoutEventCodec.payloadType,
    );
    if (event.$case !== 'messageAccepted') return record;
    // Who wrote to whom, for readers that need no more of the message (presence's contacts).
    return {
      ...record,
      headers: { ...record.headers, [eventHeaders.senderAccount]: event.value.senderAccountId },
    };
  }
}
