import { LastSeenVisibility } from '@tandem/contracts/events/tandem/accounts/v1/settings';
import type { Document, DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { contactPairId, lastSeenVisible, needsContacts } from '@tandem/presence-domain';
import type { AccountDomainEvent } from './presence.codecs';

/** An account's last-seen visibility, as of the account's version. */
export interface VisibilityDocument extends VersionedDocument {
  readonly visibility: number;
}

/** Two accounts that exchanged messages; `_id` is their contactPairId. */
export interface ContactDocument extends Document {
  readonly accounts: readonly string[];
}

/** Keeps memory bounded: a cache over this many entries starts again from empty. */
const MAX_CACHED = 200_000;

/**
 * Who may see whose last seen: every account's LastSeenVisibility (from tandem.accounts.events)
 * and the pairs of accounts that exchanged messages (from fanout's MessageAccepted), in the
 * service's document store so they survive restarts without replaying fanout's whole topic. The
 * visibilities are cached in memory; this process is their only writer.
 */
export class LastSeenPrivacy {
  private readonly visibilities = new Map<string, LastSeenVisibility>();
  private readonly knownPairs = new Set<string>();

  constructor(
    private readonly visibilityDocuments: DocumentCollection<VisibilityDocument>,
    private readonly contacts: DocumentCollection<ContactDocument>,
  ) {}

  /** Applies an accounts event; returns the account whose visibility may have changed, if any. */
  async apply({ event, metadata }: ReceivedEvent<AccountDomainEvent>): Promise<string | undefined> {
    switch (event.$case) {
      case 'settingsUpdated':
        return this.setVisibility(
          event.value.accountId,
          event.value.lastSeenVisibility,
          metadata.aggregateVersion,
        );
      case 'accountDeleted':
        return this.setVisibility(
          event.value.accountId,
          LastSeenVisibility.LAST_SEEN_VISIBILITY_UNSPECIFIED,
          metadata.aggregateVersion,
        );
      default:
        return undefined;
    }
  }

  /** Records that these pairs of accounts exchanged messages; returns the pairs it did not know. */
  async learnContacts(pairs: readonly (readonly [string, string])[]): Promise<[string, string][]> {
    const fresh = new Map<string, [string, string]>();
    for (const [a, b] of pairs) {
      const id = contactPairId(a, b);
      if (a !== b && !this.knownPairs.has(id)) fresh.set(id, a < b ? [a, b] : [b, a]);
    }
    if (fresh.size === 0) return [];
    await this.contacts.insertNew([...fresh].map(([_id, accounts]) => ({ _id, accounts })));
    if (this.knownPairs.size + fresh.size > MAX_CACHED) this.knownPairs.clear();
    for (const id of fresh.keys()) this.knownPairs.add(id);
    return [...fresh.values()];
  }

  /** Whether `viewer` may see the last seen of each of `accountIds`. */
  async lastSeenVisibleTo(viewer: string, accountIds: readonly string[]): Promise<Map<string, boolean>> {
    const visibilities = await this.visibilitiesOf(accountIds);
    const contactIds = accountIds
      .filter((accountId) => accountId !== viewer && needsContacts(visibilities.get(accountId)!))
      .map((accountId) => contactPairId(accountId, viewer));
    const unknown = contactIds.filter((id) => !this.knownPairs.has(id));
    const found = new Set(
      unknown.length === 0 ? [] : (await this.contacts.getMany(unknown)).map((pair) => pair._id),
    );
    return new Map(
      accountIds.map((accountId) => {
        const pairId = contactPairId(accountId, viewer);
        const isContact = this.knownPairs.has(pairId) || found.has(pairId);
        return [
          accountId,
          lastSeenVisible(visibilities.get(accountId)!, { isSelf: accountId === viewer, isContact }),
        ];
      }),
    );
  }

  private async setVisibility(
    accountId: string,
    visibility: LastSeenVisibility,
    version: number,
  ): Promise<string | undefined> {
    const written = await this.visibilityDocuments.putIfNewer({ _id: accountId, visibility, version });
    if (!written) return undefined;
    this.cacheVisibility(accountId, visibility);
    return accountId;
  }

  private async visibilitiesOf(accountIds: readonly string[]): Promise<Map<string, LastSeenVisibility>> {
    const missing = accountIds.filter((accountId) => !this.visibilities.has(accountId));
    if (missing.length > 0) {
      const stored = new Map(
        (await this.visibilityDocuments.getMany(missing)).map((doc) => [doc._id, doc.visibility]),
      );
      for (const accountId of missing) {
        // The consumer may have cached a newer value meanwhile: it wins.
        if (!this.visibilities.has(accountId)) {
          this.cacheVisibility(
            accountId,
            stored.get(accountId) ?? LastSeenVisibility.LAST_SEEN_VISIBILITY_UNSPECIFIED,
          );
        }
      }
    }
    return new Map(
      accountIds.map((accountId) => [
        accountId,
        this.visibilities.get(accountId) ?? LastSeenVisibility.LAST_SEEN_VISIBILITY_UNSPECIFIED,
      ]),
    );
  }

  private cacheVisibility(accountId: string, visibility: LastSeenVisibility): void {
    if (this.visibilities.size >= MAX_CACHED && !this.visibilities.has(accountId)) this.visibilities.clear();
    this.visibilities.set(accountId, visibility);
  }
}
