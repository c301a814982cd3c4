import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import type { Document, DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { contactPairId, needsContacts, type Sight, sightOf } from '@tandem/presence-domain';
import type { AccountDomainEvent } from './presence.codecs';

/** An account's last-seen visibility, as of the account's version. */
export interface VisibilityDocument extends VersionedDocument {
  readonly visibility: number;
}

/** Two accounts that exchanged messages; `_id` is their contactPairId. */
export interface ContactDocument extends Document {
  readonly accounts: readonly string[];
}

/** Whether one account blocks another; `_id` is `<blocking account>><blocked account>`. */
export interface BlockDocument extends VersionedDocument {
  readonly blocked: boolean;
}

const blockId = (accountId: string, blockedAccountId: string) => `${accountId}>${blockedAccountId}`;

/** What a privacy change may change: what the subscribers of an account see, or what two accounts see of each other. */
export type PrivacyChange = { readonly account: string } | { readonly between: readonly [string, string] };

/** Keeps memory bounded: a cache over this many entries starts again from empty. */
const MAX_CACHED = 200_000;

/**
 * Who may see what of whose presence: every account's LastSeenVisibility and blocked accounts
 * (from tandem.accounts.events) and the pairs of accounts that exchanged messages (from fanout's
 * MessageAccepted), in the service's document store so they survive restarts without replaying
 * fanout's whole topic. The visibilities are cached in memory; this process is their only writer.
 */
export class PresencePrivacy {
  private readonly visibilities = new Map<string, LastSeenVisibility>();
  private readonly knownPairs = new Set<string>();

  constructor(
    private readonly visibilityDocuments: DocumentCollection<VisibilityDocument>,
    private readonly contacts: DocumentCollection<ContactDocument>,
    private readonly blocks: DocumentCollection<BlockDocument>,
  ) {}

  /** Applies an accounts event; returns what it may have changed, if anything. */
  async apply({ event, metadata }: ReceivedEvent<AccountDomainEvent>): Promise<PrivacyChange | undefined> {
    const version = metadata.aggregateVersion;
    switch (event.$case) {
      case 'settingsUpdated':
        return this.setVisibility(event.value.accountId, event.value.lastSeenVisibility, version);
      case 'accountDeleted':
        return this.setVisibility(
          event.value.accountId,
          LastSeenVisibility.LAST_SEEN_VISIBILITY_UNSPECIFIED,
          version,
        );
      case 'accountBlocked':
        return this.setBlocked(event.value.accountId, event.value.blockedAccountId, true, version);
      case 'accountUnblocked':
        return this.setBlocked(event.value.accountId, event.value.unblockedAccountId, false, version);
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

  /** What `viewer` may see of the presence of each of `accountIds`. */
  async sightsOf(viewer: string, accountIds: readonly string[]): Promise<Map<string, Sight>> {
    const visibilities = await this.visibilitiesOf(accountIds);
    const others = accountIds.filter((accountId) => accountId !== viewer);
    const blockIds = others.flatMap((accountId) => [blockId(accountId, viewer), blockId(viewer, accountId)]);
    const blocking = new Set(
      blockIds.length === 0
        ? []
        : (await this.blocks.getMany(blockIds)).filter((block) => block.blocked).map((block) => block._id),
    );
    const blocked = new Set(
      others.filter(
        (accountId) => blocking.has(blockId(accountId, viewer)) || blocking.has(blockId(viewer, accountId)),
      ),
    );
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
          sightOf(visibilities.get(accountId)!, {
            isSelf: accountId === viewer,
            isContact,
            isBlocked: blocked.has(accountId),
          }),
        ];
      }),
    );
  }

  private async setVisibility(
    accountId: string,
    visibility: LastSeenVisibility,
    version: number,
  ): Promise<PrivacyChange | undefined> {
    const written = await this.visibilityDocuments.putIfNewer({ _id: accountId, visibility, version });
    if (!written) return undefined;
    this.cacheVisibility(accountId, visibility);
    return { account: accountId };
  }

  private async setBlocked(
    accountId: string,
    blockedAccountId: string,
    blocked: boolean,
    version: number,
  ): Promise<PrivacyChange | undefined> {
    const written = await this.blocks.putIfNewer({
      _id: blockId(accountId, blockedAccountId),
      blocked,
      version,
    });
    return written ? { between: [accountId, blockedAccountId] } : undefined;
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
