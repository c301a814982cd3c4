import type { AuthenticatedDevice } from '@tandem/auth';
import type {
  AckRequest,
  SendRequest,
  SendResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { type CommandContext, CommandHandler, type EventStore } from '@tandem/event-sourcing';
import {
  type AcceptMessage,
  type FanoutDomainEvent,
  type InboxCommand,
  inboxDecider,
  type InboxState,
  messageDecider,
  removeEntries,
  validateAck,
} from '@tandem/fanout-domain';
import { DomainError } from '@tandem/decider';
import { acceptedResponse, type AcceptedSendRecord, type AcceptedSends } from './accepted-sends';
import type { BlocksProjection } from './blocks.projection';
import type { DeviceListsProjection } from './device-lists.projection';
import { fanoutEventCodec } from './fanout.codecs';
import { derivedId, type FanoutLog, serverMessageIdOf } from './fanout-log';
import { ackToRecord, type InboxesProjection } from './inboxes.projection';

/**
 * The fanout write side. A message is decided against fanout's device lists and blocks and
 * appended to tandem.fanout.events as one record per account (the recipient's envelopes and the
 * sender's sync copies): it is durable when Send returns. Its server message id is derived from
 * the sending device and its client message id, so a retry gets the same id; the first answer is
 * kept (AcceptedSends) for retries, and should a retry's record reach the log all the same (the
 * process died between the two), the inbox projection recognises it and appends nothing twice.
 * An ack is applied in memory by the instance that folds the device's account, else appended to
 * the same log for that instance. System entries and expiry, which are rare, are commands through
 * the event store.
 */
export class FanoutCommands {
  readonly inboxChanges: CommandHandler<InboxCommand, FanoutDomainEvent, InboxState>;

  constructor(
    store: EventStore,
    private readonly log: FanoutLog,
    private readonly accepted: AcceptedSends,
    private readonly deviceLists: DeviceListsProjection,
    private readonly blocks: BlocksProjection,
    private readonly inboxes: InboxesProjection,
    onAppended: () => void,
  ) {
    this.inboxChanges = new CommandHandler(store, inboxDecider, fanoutEventCodec, { onAppended });
  }

  async send(
    device: AuthenticatedDevice,
    request: SendRequest,
    context: CommandContext,
  ): Promise<SendResponse> {
    const sender = { accountId: device.accountId, deviceId: device.deviceId };
    const key = `${sender.accountId}:${sender.deviceId}:${request.clientMessageId}`;
    const known = await this.accepted.recall(key);
    if (known && !known.stored) return acceptedResponse(known.record, true);
    if (known) {
      // Accepted by another instance, or before a restart: should the log not have it (a crash
      // between keeping the answer and the append), it is appended again, as it was answered.
      if (!known.record.appended) {
        await this.appendAccepted(sender, request, known.record, context).catch(() => undefined);
      }
      return acceptedResponse(known.record, true);
    }

    const serverMessageId = serverMessageIdOf(sender.accountId, sender.deviceId, request.clientMessageId);
    const now = new Date();
    const events = await this.decide(sender, request, serverMessageId, now);
    const standing = await this.accepted.remember(key, serverMessageId, now);
    const first = standing.serverTimestamp === now.getTime();
    await this.appendAccepted(sender, request, standing, context, first ? events : undefined);
    if (first) this.accepted.appended(standing);
    return acceptedResponse(standing, !first);
  }

  /**
   * Appends the message as it was answered: its records have ids derived from its server message
   * id, so the inbox projection takes them once however often they are appended.
   */
  private async appendAccepted(
    sender: AcceptMessage['sender'],
    request: SendRequest,
    answered: AcceptedSendRecord,
    context: CommandContext,
    decided?: FanoutDomainEvent[],
  ): Promise<void> {
    const at = new Date(answered.serverTimestamp);
    const events = decided ?? (await this.decide(sender, request, answered.serverMessageId, at));
    await this.log.append(
      events.map((event) => ({
        event,
        eventId: derivedId(answered.serverMessageId, event.$case),
        occurredAt: at,
      })),
      context,
    );
  }

  /**
   * Decides the message against the device lists and blocks fanout holds in memory; a refusal is
   * decided again on the stored lists, so a list that changed a moment ago never refuses a Send.
   */
  private async decide(
    sender: AcceptMessage['sender'],
    request: SendRequest,
    serverMessageId: string,
    now: Date,
  ): Promise<FanoutDomainEvent[]> {
    const attempt = async (fresh: boolean) => {
      const [recipient, senderList, blocks] = await Promise.all([
        this.deviceLists.recipient(request.recipientAccountId, fresh),
        this.deviceLists.get(sender.accountId, fresh),
        this.blocks.between(sender.accountId, request.recipientAccountId, fresh),
      ]);
      return messageDecider.decide(
        {
          type: 'AcceptMessage',
          sender,
          recipientAccountId: request.recipientAccountId,
          clientMessageId: request.clientMessageId,
          recipientListVersion: request.recipientListVersion,
          envelopes: request.envelopes,
          recipient,
          senderDevices: { listVersion: senderList?.listVersion ?? 0, devices: senderList?.devices ?? [] },
          blocks,
          serverMessageId,
          now,
        },
        messageDecider.initialState(),
      );
    };
    try {
      return await attempt(false);
    } catch (error) {
      if (!(error instanceof DomainError) || error.kind === 'invalid-argument') throw error;
      return attempt(true);
    }
  }

  /**
   * Records that the device processed entries, by id and/or cumulatively through a sequence;
   * returns how many entries of its inbox that removes. A delivery receipt for the messages of
   * other accounts among them reaches the senders' devices within a short window.
   */
  async ack(device: AuthenticatedDevice, request: AckRequest, context: CommandContext): Promise<number> {
    const ids = validateAck(request.serverMessageIds, request.throughSequence);
    const here = this.inboxes.ackHere(
      device.accountId,
      device.deviceId,
      ids,
      request.throughSequence,
      new Date(),
    );
    if (here) return here.length;
    const inbox = await this.inboxes.inboxOf(device.accountId, device.deviceId);
    if (!inbox) return 0;
    const { removed } = removeEntries(inbox, ids, request.throughSequence);
    if (removed.length === 0) return 0;
    await this.log.recordAcks([ackToRecord(device, removed, request.throughSequence)], context);
    return removed.length;
  }

  /** A cumulative ack from a device's connection. */
  async ackThrough(
    device: AuthenticatedDevice,
    throughSequence: number,
    context: CommandContext,
  ): Promise<void> {
    validateAck([], throughSequence);
    if (this.inboxes.ackHere(device.accountId, device.deviceId, [], throughSequence, new Date())) return;
    await this.log.recordAcks([ackToRecord(device, [], throughSequence)], context);
  }
}
