import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { AccountDomainEvent } from './presence.codecs';
import type { PresenceBook } from './presence-book';

/** Forgets the presence of deleted accounts (tandem.accounts.events). */
export class AccountsEventsConsumer {
  constructor(private readonly book: PresenceBook) {}

  async apply({ event }: ReceivedEvent<AccountDomainEvent>): Promise<void> {
    if (event.$case !== 'accountDeleted') return;
    this.book.forget(event.value.accountId);
    await this.book.flush();
  }
}
