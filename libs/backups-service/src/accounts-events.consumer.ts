import { causedBy, type ReceivedEvent } from '@tandem/event-sourcing';
import type { accountEventCodec } from './backups.codecs';
import type { BackupCommands } from './backups.commands';

type AccountEvent = ReturnType<typeof accountEventCodec.decode>;

/**
 * Turns the accounts service's events into backup commands: a deleted account's backups are
 * purged. A re-registered account keeps its backups, so the new phone restores from the latest.
 * The decider purges once, so a redelivered AccountDeleted changes nothing.
 */
export class AccountsEventsConsumer {
  constructor(private readonly commands: BackupCommands) {}

  async apply({ event, metadata }: ReceivedEvent<AccountEvent>): Promise<void> {
    if (event.$case !== 'accountDeleted') return;
    await this.commands.purge(event.value.accountId, metadata.occurredAt, causedBy(metadata));
  }
}
