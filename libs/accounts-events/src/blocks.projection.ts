import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { LRUCache } from 'lru-cache';
import { defineProjection, eventFeed } from '@tandem/runtime';
import { type AccountDomainEvent, accountEventCodec } from './account-event.codec';

/** Whether one account blocks another; its id is `<blocking account>><blocked account>`. */
export interface BlockRecord extends VersionedDocument {
  readonly accountId: string;
  readonly blockedAccountId: string;
  readonly blocked: boolean;
}

/** Which of a message's two accounts blocks the other. */
export interface BlocksBetween {
  readonly recipientBlocksSender: boolean;
  readonly senderBlocksRecipient: boolean;
}

export interface BlocksProjectionOptions {
  /**
   * How long a pair read from the store may answer `between(..., fresh = false)` before it is read
   * again, in milliseconds (for a service that asks on every request). Unset: no cache, every
   * question reads the store.
   */
  readonly cacheMs?: number;
}

const blockId = (accountId: string, blockedAccountId: string) => `${accountId}>${blockedAccountId}`;

/** A sender and a recipient, as the key of what `between` answered for them. */
const pairKey = (sender: string, recipient: string) => `${sender}|${recipient}`;

/** Pairs remembered at most, when there is a cache. */
const MAX_CACHED = 100_000;

/**
 * Who blocks whom, from tandem.accounts.events (AccountBlocked, AccountUnblocked): one document per
 * pair of accounts in the service's `blocks` collection, looked up by id (fanout when a message is
 * sent, media when a device downloads). Each holds the blocking account's version it reflects, so
 * a redelivered or replayed event changes nothing.
 */
export class BlocksProjection {
  private readonly cached?: LRUCache<string, BlocksBetween>;

  constructor(
    private readonly blocks: DocumentCollection<BlockRecord>,
    options: BlocksProjectionOptions = {},
  ) {
    if (options.cacheMs !== undefined) {
      this.cached = new LRUCache<string, BlocksBetween>({ max: MAX_CACHED, ttl: options.cacheMs });
    }
  }

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
    this.cached?.delete(pairKey(accountId, blockedAccountId));
    this.cached?.delete(pairKey(blockedAccountId, accountId));
  }

  /**
   * Which of the two accounts blocks the other. `fresh` reads the store; otherwise a pair read
   * within the cache's time answers from memory.
   */
  async between(senderAccountId: string, recipientAccountId: string, fresh = true): Promise<BlocksBetween> {
    if (senderAccountId === recipientAccountId) {
      return { recipientBlocksSender: false, senderBlocksRecipient: false };
    }
    const key = pairKey(senderAccountId, recipientAccountId);
    const known = fresh ? undefined : this.cached?.get(key);
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
    this.cached?.set(key, result);
    return result;
  }

  /** Whether either account blocks the other, as the store says now. */
  async eitherBlocks(a: string, b: string): Promise<boolean> {
    const { recipientBlocksSender, senderBlocksRecipient } = await this.between(a, b);
    return recipientBlocksSender || senderBlocksRecipient;
  }
}

/**
 * Who blocks whom in a service's `blocks` collection, kept by its consumer group `<service>.<group>`
 * of tandem.accounts.events.
 */
export const blocksProjection = (name: string, group: string, options: BlocksProjectionOptions = {}) =>
  defineProjection({
    name,
    collections: ['blocks'],
    feeds: [eventFeed<AccountDomainEvent, BlocksProjection>('accounts', group, accountEventCodec)],
    create: (store) => new BlocksProjection(store.collection('blocks'), options),
  });
