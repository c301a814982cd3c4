import { SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { causedBy, type CommandHandler, type EventCodec, type ReceivedEvent } from '@tandem/event-sourcing';
import {
  type FanoutDomainEvent,
  type InboxCommand,
  type InboxState,
  primaryDeviceOf,
  systemEntryStreamId,
} from '@tandem/fanout-domain';
import type { DeviceListsProjection } from './device-lists.projection';

/** The event cases of other services that every device of the account gets as a system entry. */
const kinds: Readonly<Record<string, SystemEntryKind>> = {
  profileUpdated: SystemEntryKind.SYSTEM_ENTRY_KIND_PROFILE_UPDATED,
  settingsUpdated: SystemEntryKind.SYSTEM_ENTRY_KIND_SETTINGS_UPDATED,
  accountBlocked: SystemEntryKind.SYSTEM_ENTRY_KIND_BLOCKED_ACCOUNTS_CHANGED,
  accountUnblocked: SystemEntryKind.SYSTEM_ENTRY_KIND_BLOCKED_ACCOUNTS_CHANGED,
  deviceLinked: SystemEntryKind.SYSTEM_ENTRY_KIND_DEVICE_LIST_CHANGED,
  deviceUnlinked: SystemEntryKind.SYSTEM_ENTRY_KIND_DEVICE_LIST_CHANGED,
  backupRecorded: SystemEntryKind.SYSTEM_ENTRY_KIND_BACKUP_RECORDED,
  historyBundleAnnounced: SystemEntryKind.SYSTEM_ENTRY_KIND_HISTORY_BUNDLE_ANNOUNCED,
};

/** The event cases that reach only the device they name (`value.deviceId`), not every device. */
const forOneDevice: ReadonlySet<string> = new Set(['historyBundleAnnounced']);

export type SourceEvent = { $case: string; value: { accountId: string; deviceId?: number } };

/**
 * Carries other services' events about an account (profile, settings, blocked accounts, device
 * list changes, recorded backups, and to one companion a history bundle announced for it) into
 * the fanout event store as system entries for every device the account has then (named in the
 * event with the primary among them, so that applying it again gives the same inboxes without a
 * device list); an unlinked device's
 * inbox is closed with it. Each is recorded under its source event's id, so a redelivered source
 * event records nothing new.
 */
export class SystemEntries {
  private readonly codecs: ReadonlyMap<string, EventCodec<SourceEvent>>;

  constructor(
    private readonly inboxChanges: CommandHandler<InboxCommand, FanoutDomainEvent, InboxState>,
    private readonly deviceLists: DeviceListsProjection,
    /** The codecs of the services' events it takes, by which an entry carries the event's bytes. */
    codecs: readonly EventCodec<SourceEvent>[],
  ) {
    this.codecs = new Map(codecs.map((codec) => [codec.payloadType, codec]));
  }

  async apply({ event, metadata }: ReceivedEvent<SourceEvent>): Promise<void> {
    const codec = this.codecs.get(metadata.payloadType);
    if (!codec) throw new Error(`system entries take no ${metadata.payloadType}`);
    const kind = kinds[event.$case];
    if (kind === undefined || !event.value.accountId) return;
    const list = await this.deviceLists.get(event.value.accountId);
    await this.inboxChanges.handle(
      systemEntryStreamId(metadata.eventId),
      {
        type: 'AcceptSystemEntry',
        accountId: event.value.accountId,
        entry: {
          kind,
          sourceEventId: metadata.eventId,
          payloadType: codec.payloadType,
          payload: Buffer.from(codec.encode(event)),
        },
        closesDeviceId: event.$case === 'deviceUnlinked' ? (event.value.deviceId ?? 0) : 0,
        deviceIds: (list?.devices ?? [])
          .map((device) => device.deviceId)
          .filter((deviceId) => !forOneDevice.has(event.$case) || deviceId === event.value.deviceId),
        primaryDeviceId: primaryDeviceOf(list?.devices ?? []),
      },
      causedBy(metadata),
    );
  }
}
