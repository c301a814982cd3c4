import { UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import { causedBy, type CommandHandler, type ReceivedEvent } from '@tandem/event-sourcing';
import type { DeviceListCommand, DeviceListDomainEvent, DeviceListState } from '@tandem/linking-domain';
import type { accountEventCodec } from './linking.codecs';

type AccountEvent = ReturnType<typeof accountEventCodec.decode>;

/**
 * Turns the accounts service's events into device-list commands: a registered account gets its
 * primary device, a re-registered one a new primary in place of every old device, a deleted
 * account loses every device. The device-list decider ignores what it
 * has already recorded, so a redelivered event changes nothing.
 */
export class AccountsEventsConsumer {
  constructor(
    private readonly deviceLists: CommandHandler<DeviceListCommand, DeviceListDomainEvent, DeviceListState>,
  ) {}

  async apply({ event, metadata }: ReceivedEvent<AccountEvent>): Promise<void> {
    const context = causedBy(metadata);
    switch (event.$case) {
      case 'accountRegistered': {
        const { value } = event;
        await this.deviceLists.handle(
          value.accountId,
          {
            type: 'RegisterPrimaryDevice',
            accountId: value.accountId,
            identityKey: value.primaryIdentityKey,
            registrationId: value.primaryRegistrationId,
            name: value.primaryDeviceName,
            now: metadata.occurredAt,
          },
          context,
        );
        return;
      }
      case 'accountReregistered': {
        const { value } = event;
        await this.deviceLists.handle(
          value.accountId,
          {
            type: 'ReplacePrimaryDevice',
            accountId: value.accountId,
            identityKey: value.primaryIdentityKey,
            registrationId: value.primaryRegistrationId,
            name: value.primaryDeviceName,
            now: metadata.occurredAt,
          },
          context,
        );
        return;
      }
      case 'accountDeleted':
        await this.deviceLists.handle(
          event.value.accountId,
          {
            type: 'UnlinkAllDevices',
            accountId: event.value.accountId,
            reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED,
            now: metadata.occurredAt,
          },
          context,
        );
        return;
      default:
        return;
    }
  }
}
