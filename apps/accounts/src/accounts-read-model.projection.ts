import type { AccountDomainEvent } from '@tandem/accounts-domain';
import { defaultSettings } from '@tandem/accounts-domain';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';

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

/**
 * The accounts read model, built from tandem.accounts.events. One document per account holding
 * the account version it reflects, so a redelivered or replayed event changes nothing and a
 * replay from the start of the topic rebuilds the same documents.
 */
export class AccountsReadModel {
  constructor(private readonly accounts: DocumentCollection<AccountRecord>) {}

  async setUp(): Promise<void> {
    await this.accounts.ensureIndex(['phoneNumber']);
  }

  async apply({ event, metadata }: ReceivedEvent<AccountDomainEvent>): Promise<void> {
    const version = metadata.aggregateVersion;
    if (event.$case === 'phoneNumberClaimed' || event.$case === 'accountReregistered') return;
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

  byPhoneNumber(phoneNumber: string): Promise<AccountRecord | null> {
    return this.accounts.findOne({ phoneNumber, deleted: false });
  }
}
