import type { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';

type AccountDomainEvent = NonNullable<AccountEvent['event']>;

/** Whether one account blocks another; its id is `<blocking account>><blocked account>`. */
export interface MediaBlockRecord extends VersionedDocument {
  readonly accountId: string;
  readonly blockedAccountId: string;
  readonly blocked: boolean;
}

const blockId = (accountId: string, blockedAccountId: string) => `${accountId}>${blockedAccountId}`;

/**
 * Media's projection of who blocks whom, from tandem.accounts.events: one document per pair of
 * accounts, read by id when a device downloads. Each holds the blocking account's version it
 * reflects, so a redelivered or replayed event changes nothing.
 */
export class MediaBlocksProjection {
  constructor(private readonly blocks: DocumentCollection<MediaBlockRecord>) {}

  async apply({ event, metadata }: ReceivedEvent<AccountDomainEvent>): Promise<void> {
    if (event.$case !== 'accountBlocked' && event.$case !== 'accountUnblocked') return;
    const { accountId } = event.value;
    const blockedAccountId =
      event.$case === 'accountBlocked' ? event.value.blockedAccountId : event.value.unblockedAccountId;
    await this.blocks.putIfNewer({
      _id: blockId(accountId, blockedAccountId),
      accountId,
      blockedAccountId,
      blocked: event.$case === 'accountBlocked',
      version: metadata.aggregateVersion,
    });
  }

  /** Whether either account blocks the other. */
  async eitherBlocks(a: string, b: string): Promise<boolean> {
    if (a === b) return false;
    const found = await this.blocks.getMany([blockId(a, b), blockId(b, a)]);
    return found.some((record) => record.blocked);
  }
}
