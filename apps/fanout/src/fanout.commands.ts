import { createHash, randomUUID } from 'node:crypto';
import type { AuthenticatedDevice } from '@tandem/auth';
import type {
  AckRequest,
  SendRequest,
  SendResponse,
} from '@tandem/contracts/grpc/tandem/fanout/v1/fanout_service';
import { type CommandContext, CommandHandler, type EventStore } from '@tandem/event-sourcing';
import {
  type FanoutDomainEvent,
  type InboxCommand,
  inboxDecider,
  type InboxState,
  type MessageCommand,
  type MessageState,
  messageDecider,
  messageStreamId,
  validateAck,
} from '@tandem/fanout-domain';
import { toTimestamp } from '@tandem/grpc';
import type { BlocksProjection } from './blocks.projection';
import type { DeviceListsProjection } from './device-lists.projection';
import { fanoutEventCodec } from './fanout.codecs';
import type { InboxesProjection } from './inboxes.projection';

/**
 * The fanout write side: accepting messages and acks into the fanout event store. A message is
 * decided against fanout's projection of the device lists and is durable when Send returns; an
 * ack records which entries the inbox held and the delivery receipts it issues. The inbox
 * projection applies both once the relay has published them.
 */
export class FanoutCommands {
  private readonly messages: CommandHandler<MessageCommand, FanoutDomainEvent, MessageState>;
  readonly inboxChanges: CommandHandler<InboxCommand, FanoutDomainEvent, InboxState>;

  constructor(
    store: EventStore,
    private readonly deviceLists: DeviceListsProjection,
    private readonly blocks: BlocksProjection,
    private readonly inboxes: InboxesProjection,
    onAppended: () => void,
  ) {
    this.messages = new CommandHandler(store, messageDecider, fanoutEventCodec, { onAppended });
    this.inboxChanges = new CommandHandler(store, inboxDecider, fanoutEventCodec, { onAppended });
  }

  async send(
    device: AuthenticatedDevice,
    request: SendRequest,
    context: CommandContext,
  ): Promise<SendResponse> {
    const sender = { accountId: device.accountId, deviceId: device.deviceId };
    const { events, state } = await this.messages.handle(
      messageStreamId(sender.accountId, sender.deviceId, request.clientMessageId),
      async () => {
        const [recipient, senderList, blocks] = await Promise.all([
          this.deviceLists.recipient(request.recipientAccountId),
          this.deviceLists.get(sender.accountId),
          this.blocks.between(sender.accountId, request.recipientAccountId),
        ]);
        return {
          type: 'AcceptMessage',
          sender,
          recipientAccountId: request.recipientAccountId,
          clientMessageId: request.clientMessageId,
          recipientListVersion: request.recipientListVersion,
          envelopes: request.envelopes,
          recipient,
          senderDevices: { listVersion: senderList?.listVersion ?? 0, devices: senderList?.devices ?? [] },
          blocks,
          serverMessageId: randomUUID(),
          now: new Date(),
        };
      },
      context,
    );
    if (state.status !== 'accepted') throw new Error('an accepted message has no accepted state');
    return {
      serverMessageId: state.serverMessageId,
      serverTimestamp: toTimestamp(state.serverTimestamp),
      duplicate: events.length === 0,
    };
  }

  /** Records the ack of the named entries the device's inbox holds; returns how many it held. */
  async ack(device: AuthenticatedDevice, request: AckRequest, context: CommandContext): Promise<number> {
    const ids = new Set(validateAck(request.serverMessageIds));
    const head = await this.inboxes.head(device.accountId);
    const inbox = head?.inboxes.find((known) => known.deviceId === device.deviceId);
    const acked = (inbox?.pending ?? []).filter((entry) => ids.has(entry.serverMessageId));
    if (acked.length === 0) return 0;
    // The stream is named by what is acked, so the same ack sent again before it took effect
    // records nothing more and issues no second receipt.
    const acks = createHash('sha256')
      .update(acked.map((entry) => entry.sequence).join(','))
      .digest('hex')
      .slice(0, 32);
    await this.inboxChanges.handle(
      `inbox-ack:${device.accountId}:${device.deviceId}:${acks}`,
      {
        type: 'AckEntries',
        device: { accountId: device.accountId, deviceId: device.deviceId },
        acked,
        receiptIds: acked.map(() => randomUUID()),
        now: new Date(),
      },
      context,
    );
    return acked.length;
  }
}
