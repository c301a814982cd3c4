/**
 * The backup list of an account: one aggregate per account (stream id = account id).
 * Invariants:
 * - only the primary device records and deletes backups; companions only read them;
 * - a backup holds metadata only: a known provider (OTHER with its name), an id of 1 to 128
 *   characters of [A-Za-z0-9._-], a size of at least one byte, the archive's 32-byte SHA-256, a key
 *   reference (never a key) exactly when end-to-end encrypted, counts of at least 0 and a creation
 *   time at most 5 minutes ahead of the server's clock, and at most 10000 distinct media ids it
 *   references (the media service keeps their blobs while the backup is kept); a refused backup
 *   records nothing;
 * - a backup id is recorded once per account, for good: recording it again with the same contents
 *   records nothing, with other contents is refused, also after it was deleted or pruned;
 * - the account keeps the newest `retention` backups of each provider ("newest first": creation
 *   time, then backup id, descending); the command that records a backup prunes the ones beyond,
 *   the new backup itself included when it is older than all kept ones;
 * - only a kept backup can be deleted;
 * - when the account is deleted every backup is purged, once, and nothing is recorded after.
 */
import {
  alreadyExists,
  assertNever,
  type Decider,
  failedPrecondition,
  notFound,
  permissionDenied,
} from '@tandem/decider';
import type { BackupEvent } from '@tandem/contracts/tandem/backups/v1/events';
import {
  type BackupContents,
  newestFirst,
  type RecordedBackup,
  sameContents,
  validateBackup,
  validateBackupId,
} from './backup';

export type BackupDomainEvent = NonNullable<BackupEvent['event']>;

export interface BackupsState {
  /** `purged` once the account was deleted. */
  readonly status: 'active' | 'purged';
  /** The backups the account has, by id. */
  readonly kept: ReadonlyMap<string, RecordedBackup>;
  /** Backups deleted or pruned, by id: their ids are not recorded again. */
  readonly retired: ReadonlyMap<string, RecordedBackup>;
}

/** The device that sends a command, as its token and the device directory say. */
export interface Actor {
  readonly deviceId: number;
  readonly primary: boolean;
}

export interface RecordBackup {
  readonly type: 'RecordBackup';
  readonly accountId: string;
  readonly backup: BackupContents;
  readonly by: Actor;
  /** Backups kept per provider (configuration, at least 1). */
  readonly retention: number;
  readonly now: Date;
}

export interface DeleteBackup {
  readonly type: 'DeleteBackup';
  readonly accountId: string;
  readonly backupId: string;
  readonly by: Actor;
  readonly now: Date;
}

/** The account was deleted. */
export interface PurgeBackups {
  readonly type: 'PurgeBackups';
  readonly accountId: string;
  readonly now: Date;
}

export type BackupsCommand = RecordBackup | DeleteBackup | PurgeBackups;

const ACCOUNT_DELETED = 'the account was deleted; its backups are gone';

/** The backups the account has, newest first. */
export function keptBackups(state: BackupsState): RecordedBackup[] {
  return [...state.kept.values()].sort(newestFirst);
}

/** A backup of the account, kept or retired, by id. */
export function findBackup(state: BackupsState, backupId: string): RecordedBackup | undefined {
  return state.kept.get(backupId) ?? state.retired.get(backupId);
}

function requirePrimary(state: BackupsState, by: Actor, action: string): void {
  if (state.status === 'purged') throw failedPrecondition(ACCOUNT_DELETED);
  if (!by.primary) throw permissionDenied(`only the primary device may ${action} backups`);
}

function recordBackup(command: RecordBackup, state: BackupsState): BackupDomainEvent[] {
  requirePrimary(state, command.by, 'record');
  const backup = validateBackup(command.backup, command.now);
  const known = findBackup(state, backup.backupId);
  if (known) {
    if (sameContents(known, backup)) return [];
    throw alreadyExists(`backup ${backup.backupId} is already recorded with other contents`);
  }
  const recorded: RecordedBackup = {
    ...backup,
    recordedAt: command.now,
    recordedByDeviceId: command.by.deviceId,
  };
  const sameProvider = [...state.kept.values(), recorded]
    .filter((kept) => kept.provider === backup.provider)
    .sort(newestFirst);
  const pruned = sameProvider.slice(command.retention);
  return [
    {
      $case: 'backupRecorded',
      value: {
        accountId: command.accountId,
        backupId: recorded.backupId,
        provider: recorded.provider,
        providerName: recorded.providerName,
        sizeBytes: recorded.sizeBytes,
        sha256: Buffer.from(recorded.sha256),
        endToEndEncrypted: recorded.endToEndEncrypted,
        keyReference: recorded.keyReference,
        messageCount: recorded.messageCount,
        mediaCount: recorded.mediaCount,
        createdAt: recorded.createdAt,
        recordedAt: recorded.recordedAt,
        byDeviceId: recorded.recordedByDeviceId,
        mediaIds: [...recorded.mediaIds],
      },
    },
    ...pruned.map((old): BackupDomainEvent => ({
      $case: 'backupPruned',
      value: {
        accountId: command.accountId,
        backupId: old.backupId,
        provider: old.provider,
        retention: command.retention,
        prunedAt: command.now,
        byBackupId: recorded.backupId,
      },
    })),
  ];
}

function decide(command: BackupsCommand, state: BackupsState): BackupDomainEvent[] {
  switch (command.type) {
    case 'RecordBackup':
      return recordBackup(command, state);
    case 'DeleteBackup': {
      requirePrimary(state, command.by, 'delete');
      const backup = state.kept.get(validateBackupId(command.backupId));
      if (!backup) throw notFound(`backup ${command.backupId} not found`);
      return [
        {
          $case: 'backupDeleted',
          value: {
            accountId: command.accountId,
            backupId: backup.backupId,
            provider: backup.provider,
            deletedAt: command.now,
            byDeviceId: command.by.deviceId,
          },
        },
      ];
    }
    case 'PurgeBackups':
      if (state.status === 'purged') return [];
      return [
        {
          $case: 'backupsPurged',
          value: {
            accountId: command.accountId,
            backupIds: keptBackups(state).map((backup) => backup.backupId),
            purgedAt: command.now,
          },
        },
      ];
    default:
      return assertNever(command);
  }
}

function retire(state: BackupsState, backupId: string): BackupsState {
  const backup = state.kept.get(backupId);
  if (!backup) return state;
  const kept = new Map(state.kept);
  kept.delete(backupId);
  return { ...state, kept, retired: new Map(state.retired).set(backupId, backup) };
}

function evolve(state: BackupsState, event: BackupDomainEvent): BackupsState {
  switch (event.$case) {
    case 'backupRecorded': {
      const { value } = event;
      const backup: RecordedBackup = {
        backupId: value.backupId,
        provider: value.provider,
        providerName: value.providerName,
        sizeBytes: value.sizeBytes,
        sha256: value.sha256,
        endToEndEncrypted: value.endToEndEncrypted,
        keyReference: value.keyReference,
        messageCount: value.messageCount,
        mediaCount: value.mediaCount,
        createdAt: value.createdAt ?? new Date(0),
        recordedAt: value.recordedAt ?? new Date(0),
        recordedByDeviceId: value.byDeviceId,
        mediaIds: value.mediaIds,
      };
      return { ...state, kept: new Map(state.kept).set(backup.backupId, backup) };
    }
    case 'backupDeleted':
    case 'backupPruned':
      return retire(state, event.value.backupId);
    case 'backupsPurged':
      return { status: 'purged', kept: new Map(), retired: new Map() };
    default:
      return assertNever(event);
  }
}

export const backupsDecider: Decider<BackupsCommand, BackupDomainEvent, BackupsState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'active', kept: new Map(), retired: new Map() }),
};
