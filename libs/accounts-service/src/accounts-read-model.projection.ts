import type { AccountDomainEvent } from '@tandem/accounts-domain';
import { defaultSettings } from '@tandem/accounts-domain';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { defineProjection, eventFeed } from '@tandem/runtime';
import { accountEventCodec } from './accounts.codec';

/** An account as other accounts find it: by id or by phone number. */
export interface AccountRecord extends VersionedDocument {
  readonly accountId: string;
  readonly phoneNumber: string;
  readonly displayName: string;
  readonly about: string;
  readonly avatarRef: string;
  readonly lastSeenVisibility: number;
  readonly backupFrequency: number;
  readonly backupWifiOnly: boolean;
  readonly backupIncludeVideos: boolean;
  readonly deleted: boolean;
}

/** Which account claimed a phone number last, keyed by the number. */
export interface PhoneNumberRecord extends VersionedDocument {
  readonly accountId: string;
}

/**
 * The accounts read model, built from tandem.accounts.events. One document per account holding
 * the account version it reflects, and one per phone number naming the account that claimed it
 * last (versioned by the number's stream), so a redelivered or replayed event changes nothing and
 * a replay from the start of the topic rebuilds the same documents. Both are read by `_id` only.
 */
export class AccountsReadModel {
  constructor(
    private readonly accounts: DocumentCollection<AccountRecord>,
    private readonly phoneNumbers: DocumentCollection<PhoneNumberRecord>,
  ) {}

  async apply({ event, metadata }: ReceivedEvent<AccountDomainEvent>): Promise<void> {
    const version = metadata.aggregateVersion;
    if (event.$case === 'phoneNumberClaimed') {
      const { phoneNumber, accountId } = event.value;
      await this.phoneNumbers.putIfNewer({ _id: phoneNumber, accountId, version });
      return;
    }
    if (event.$case === 'accountReregistered') return;
    if (event.$case === 'accountRegistered') {
      await this.accounts.putIfNewer({
        _id: event.value.accountId,
        accountId: event.value.accountId,
        phoneNumber: event.value.phoneNumber,
        displayName: '',
        about: '',
        avatarRef: '',
        ...defaultSettings,
        deleted: false,
        version,
      });
      return;
    }
    const current = await this.accounts.get(event.value.accountId);
    if (!current || current.version >= version) return;
    switch (event.$case) {
      case 'profileUpdated': {
        const { displayName, about, avatarRef } = event.value;
        await this.accounts.putIfNewer({ ...current, displayName, about, avatarRef, version });
        return;
      }
      case 'settingsUpdated': {
        const { lastSeenVisibility, backupFrequency, backupWifiOnly, backupIncludeVideos } = event.value;
        await this.accounts.putIfNewer({
          ...current,
          lastSeenVisibility,
          backupFrequency,
          backupWifiOnly,
          backupIncludeVideos,
          version,
        });
        return;
      }
      case 'accountDeleted':
        await this.accounts.putIfNewer({ ...current, deleted: true, version });
        return;
    }
  }

  async byId(accountId: string): Promise<AccountRecord | null> {
    const record = await this.accounts.get(accountId);
    return record && !record.deleted ? record : null;
  }

  /** The registered account that claimed the number last; none when that account is gone. */
  async byPhoneNumber(phoneNumber: string): Promise<AccountRecord | null> {
    const claim = await this.phoneNumbers.get(phoneNumber);
    const record = claim && (await this.byId(claim.accountId));
    return record?.phoneNumber === phoneNumber ? record : null;
  }
}

/** The accounts read model, kept by the group `accounts.read-model`. */
export const accountsReadModel = defineProjection({
  name: 'accounts',
  collections: ['accounts', 'phone_numbers'],
  feeds: [eventFeed<AccountDomainEvent, AccountsReadModel>('accounts', 'read-model', accountEventCodec)],
  create: (store) => new AccountsReadModel(store.collection('accounts'), store.collection('phone_numbers')),
});
