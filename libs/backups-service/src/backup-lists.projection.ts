import { type BackupDomainEvent, type BackupPosition, newestFirst } from '@tandem/backups-domain';
import { assertNever } from '@tandem/decider';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { defineProjection, eventFeed } from '@tandem/runtime';
import { backupEventCodec } from './backups.codecs';

/** One backup in an account's backup list document. */
export type BackupListEntry = {
  readonly backupId: string;
  readonly provider: number;
  readonly providerName: string;
  readonly sizeBytes: number;
  /** Base64 of the archive's SHA-256. */
  readonly sha256: string;
  readonly endToEndEncrypted: boolean;
  readonly keyReference: string;
  readonly messageCount: number;
  readonly mediaCount: number;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly recordedAt: string;
  readonly recordedByDeviceId: number;
};

/** An account's backups, newest first, at the version of its backup list. */
export interface BackupListRecord extends VersionedDocument {
  readonly accountId: string;
  readonly backups: readonly BackupListEntry[];
  /** The account was deleted: its backups are gone. Kept so a replayed older event changes nothing. */
  readonly purged: boolean;
}

export interface BackupPage {
  readonly backups: readonly BackupListEntry[];
  /** Whether backups follow the page. */
  readonly more: boolean;
  /** Version of the backup list the page reflects; 0 when none was recorded. */
  readonly version: number;
}

export const positionOf = (entry: BackupListEntry): BackupPosition => ({
  createdAt: new Date(entry.createdAt),
  backupId: entry.backupId,
});

const emptyList = (accountId: string): BackupListRecord => ({
  _id: accountId,
  accountId,
  backups: [],
  purged: false,
  version: 0,
});

function applied(list: BackupListRecord, event: BackupDomainEvent): BackupListRecord {
  switch (event.$case) {
    case 'backupRecorded': {
      const { value } = event;
      const entry: BackupListEntry = {
        backupId: value.backupId,
        provider: value.provider,
        providerName: value.providerName,
        sizeBytes: value.sizeBytes,
        sha256: Buffer.from(value.sha256).toString('base64'),
        endToEndEncrypted: value.endToEndEncrypted,
        keyReference: value.keyReference,
        messageCount: value.messageCount,
        mediaCount: value.mediaCount,
        createdAt: (value.createdAt ?? new Date(0)).toISOString(),
        recordedAt: (value.recordedAt ?? new Date(0)).toISOString(),
        recordedByDeviceId: value.byDeviceId,
      };
      const others = list.backups.filter((backup) => backup.backupId !== entry.backupId);
      return {
        ...list,
        backups: [...others, entry].sort((a, b) => newestFirst(positionOf(a), positionOf(b))),
      };
    }
    case 'backupDeleted':
    case 'backupPruned':
      return {
        ...list,
        backups: list.backups.filter((backup) => backup.backupId !== event.value.backupId),
      };
    case 'backupsPurged':
      return { ...list, backups: [], purged: true };
    default:
      return assertNever(event);
  }
}

/**
 * The backup lists read model, built from tandem.backups.events: one document per account with its
 * backups newest first and the version of the account's backup list it reflects, so a redelivered
 * or replayed event changes nothing and a replay from the start of the topic rebuilds the same
 * documents. A deleted account's document keeps no backup, only its version and `purged`.
 */
export class BackupListsProjection {
  constructor(private readonly lists: DocumentCollection<BackupListRecord>) {}

  async apply({ event, metadata }: ReceivedEvent<BackupDomainEvent>): Promise<void> {
    const version = metadata.aggregateVersion;
    const current = (await this.lists.get(event.value.accountId)) ?? emptyList(event.value.accountId);
    if (current.version >= version) return;
    await this.lists.putIfNewer({ ...applied(current, event), version });
  }

  /** Up to `pageSize` backups, newest first, after `after` when given. */
  async page(accountId: string, pageSize: number, after?: BackupPosition): Promise<BackupPage> {
    const list = await this.lists.get(accountId);
    if (!list) return { backups: [], more: false, version: 0 };
    const following = after
      ? list.backups.filter((backup) => newestFirst(positionOf(backup), after) > 0)
      : list.backups;
    return {
      backups: following.slice(0, pageSize),
      more: following.length > pageSize,
      version: list.version,
    };
  }

  /** The newest backup of the account, of `provider` when given. */
  async latest(
    accountId: string,
    provider?: number,
  ): Promise<{ backup: BackupListEntry; version: number } | null> {
    const list = await this.lists.get(accountId);
    const backup = list?.backups.find((entry) => provider === undefined || entry.provider === provider);
    return list && backup ? { backup, version: list.version } : null;
  }
}

/** Every account's backup list, kept by the group `backups.backup-lists`. */
export const backupLists = defineProjection({
  name: 'backup-lists',
  collections: ['backup_lists'],
  feeds: [eventFeed<BackupDomainEvent, BackupListsProjection>('backups', 'backup-lists', backupEventCodec)],
  create: (store) => new BackupListsProjection(store.collection('backup_lists')),
});
