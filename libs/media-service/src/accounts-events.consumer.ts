import { causedBy, type ReceivedEvent } from '@tandem/event-sourcing';
import type { accountEventCodec } from './media.codecs';
import type { MediaCommands } from './media.commands';
import type { MediaIndexProjection } from './media-index.projection';

type AccountEvent = ReturnType<typeof accountEventCodec.decode>;

/**
 * Turns the accounts service's events into media commands: a deleted account's uploads and blobs
 * are purged (the blob janitor then removes their bytes). Each media purges once, so a
 * redelivered AccountDeleted changes nothing.
 */
export class AccountsEventsConsumer {
  constructor(
    private readonly commands: MediaCommands,
    private readonly index: MediaIndexProjection,
  ) {}

  async apply({ event, metadata }: ReceivedEvent<AccountEvent>): Promise<void> {
    if (event.$case !== 'accountDeleted') return;
    for (const media of await this.index.ofAccount(event.value.accountId)) {
      await this.commands.purge(media._id, metadata.occurredAt, causedBy(metadata));
    }
  }
}
