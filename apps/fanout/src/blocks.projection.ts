import type { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { Blocks } from '@tandem/fanout-domain';
import { LRUCache } from 'lru-cache';

type AccountDomainEvent = NonNullable<AccountEvent['event']>;

/** Whether one account blocks another; its id is `<blocking account>><blocked account>`. */
export interface BlockRecord extends VersionedDocument {
  readonly accountId: string;
  readonly blockedAccountId: string;
  readonly blocked: boolean;
}

const blockId = (accountId: string, blockedAccountId: string) => `${accountId}>${blockedAccountId}`;

/** A sender and a recipient, as the key of what `between` answered for them. */
const pairKey = (sender: string, recipient: string) => `${sender}|${recipient}`;

/** How long a pair read from the store serves Sends before it is read again. */
const CACHE_MS = 1_000;

/**
 * Fanout's projection of who blocks whom, from tandem.accounts.events: one document per pair of
 * accounts, looked up by id when a message is sent. Each holds the blocking account's version it
 * reflects, so a redelivered or replayed event changes nothing.
 */
export class BlocksProjection {
  /** Pairs as last read here, for a moment (every Send asks); `fresh` reads the store. */
  private readonly cached = new LRUCache<string, Blocks>({ max: 100_000, ttl: CACHE_MS });

  constructor(private readonly blocks: DocumentCollection<BlockRecord>) {}

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
    this.cached.delete(pairKey(accountId, blockedAccountId));
    this.cached.delete(pairKey(blockedAccountId, accountId));
  }

  /** Which of the two accounts blocks the other. */
  async between(senderAccountId: string, recipientAccountId: string, fresh = true): Promise<Blocks> {
    if (senderAccountId === recipientAccountId) {
      return { recipientBlocksSender: false, senderBlocksRecipient: false };
    }
    const key = pairKey(senderAccountId, recipientAccountId);
    const known = fresh ? undefined : this.cached.get(key);
    if (known) return known;
    const found = await this.blocks.getMany([
      blockId(recipientAccountId, senderAccountId),
      blockId(senderAccountId, recipientAccountId),
    ]);
    const blocks = (accountId: string) =>
      found.some((record) => record.accountId === accountId && record.blocked);
    const result = {
      recipientBlocksSender: blocks(recipientAccountId),
      senderBlocksRecipient: blocks(senderAccountId),
    };
    this.cached.set(key, result);
    return result;
  }
}
