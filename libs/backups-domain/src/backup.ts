/**
 * A backup's metadata and the rules for it: what a primary may record (never content, never a
 * key), and the order "newest first" that listing, restoring and retention share.
 */
import { invalidArgument, validateText } from '@tandem/decider';
import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';

export const backupLimits = {
  backupId: 128,
  providerName: 64,
  keyReference: 256,
  sha256Bytes: 32,
  /** How far ahead of the server's clock a backup's created_at may be. */
  clockSkewMs: 5 * 60 * 1000,
  /** Media ids one backup may reference. */
  mediaIds: 10_000,
} as const;

/** What the primary says about a completed backup, as it sends it. */
export interface BackupContents {
  readonly backupId: string;
  readonly provider: BackupProvider;
  /** Required for OTHER, empty for the others. */
  readonly providerName: string;
  readonly sizeBytes: number;
  readonly sha256: Uint8Array;
  readonly endToEndEncrypted: boolean;
  /** A key version or vault reference, required when end-to-end encrypted, empty otherwise. */
  readonly keyReference: string;
  readonly messageCount: number;
  readonly mediaCount: number;
  /** Undefined when the request had none; an invalid Date when it had a malformed one. */
  readonly createdAt: Date | undefined;
  /** The media service's media ids the backup references, whose blobs are kept while it is. */
  readonly mediaIds: readonly string[];
}

/** A backup as the account's backup list holds it. */
export interface RecordedBackup extends BackupContents {
  readonly createdAt: Date;
  readonly recordedAt: Date;
  readonly recordedByDeviceId: number;
}

export const knownProviders: readonly BackupProvider[] = [
  BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
  BackupProvider.BACKUP_PROVIDER_ICLOUD,
  BackupProvider.BACKUP_PROVIDER_OTHER,
];

const BACKUP_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** A media id of the media service: 128 random bits as base64url without padding. */
const MEDIA_ID = /^[A-Za-z0-9_-]{22}$/;

/** The media ids a backup references: media ids, at most `backupLimits.mediaIds`, no repeats. */
export function validateMediaIds(mediaIds: readonly string[]): readonly string[] {
  if (mediaIds.length > backupLimits.mediaIds) {
    throw invalidArgument('media_ids', `must be at most ${backupLimits.mediaIds} media ids`);
  }
  const seen = new Set<string>();
  for (const [index, mediaId] of mediaIds.entries()) {
    if (!MEDIA_ID.test(mediaId)) {
      throw invalidArgument('media_ids', `[${index}] is not a media id (22 characters of base64url)`);
    }
    if (seen.has(mediaId)) throw invalidArgument('media_ids', `[${index}] repeats ${mediaId}`);
    seen.add(mediaId);
  }
  return mediaIds;
}

export function validateBackupId(backupId: string): string {
  if (!BACKUP_ID.test(backupId)) {
    throw invalidArgument(
      'backup_id',
      `must be 1 to ${backupLimits.backupId} characters of A-Z, a-z, 0-9, ".", "_" and "-"`,
    );
  }
  return backupId;
}

export function validateProvider(provider: BackupProvider, field = 'provider'): BackupProvider {
  if (provider === BackupProvider.BACKUP_PROVIDER_UNSPECIFIED) throw invalidArgument(field, 'is required');
  if (!knownProviders.includes(provider)) throw invalidArgument(field, `unknown provider ${provider}`);
  return provider;
}

function validateCount(field: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(field, min === 0 ? 'must not be negative' : `must be at least ${min}`);
  }
  return value;
}

/**
 * Checks every field of a backup and returns it with its created_at, refusing the first bad field
 * by its proto name. `now` is the server's clock.
 */
export function validateBackup(backup: BackupContents, now: Date): BackupContents & { createdAt: Date } {
  validateBackupId(backup.backupId);
  validateProvider(backup.provider);
  if (backup.provider === BackupProvider.BACKUP_PROVIDER_OTHER) {
    if (backup.providerName.trim() === '') {
      throw invalidArgument('provider_name', 'is required when provider is OTHER');
    }
    validateText('provider_name', backup.providerName, backupLimits.providerName);
  } else if (backup.providerName !== '') {
    throw invalidArgument('provider_name', 'must be empty unless provider is OTHER');
  }
  validateCount('size_bytes', backup.sizeBytes, 1);
  if (backup.sha256.length !== backupLimits.sha256Bytes) {
    throw invalidArgument('sha256', `must be the ${backupLimits.sha256Bytes}-byte SHA-256 of the archive`);
  }
  if (backup.endToEndEncrypted) {
    if (backup.keyReference.trim() === '') {
      throw invalidArgument('key_reference', 'is required when the backup is end-to-end encrypted');
    }
    validateText('key_reference', backup.keyReference, backupLimits.keyReference);
  } else if (backup.keyReference !== '') {
    throw invalidArgument('key_reference', 'must be empty unless the backup is end-to-end encrypted');
  }
  validateCount('message_count', backup.messageCount, 0);
  validateCount('media_count', backup.mediaCount, 0);
  validateMediaIds(backup.mediaIds);
  const { createdAt } = backup;
  if (createdAt === undefined) throw invalidArgument('created_at', 'is required');
  if (Number.isNaN(createdAt.getTime()) || createdAt.getTime() <= 0) {
    throw invalidArgument('created_at', 'must be a valid time after 1970-01-01');
  }
  if (createdAt.getTime() > now.getTime() + backupLimits.clockSkewMs) {
    throw invalidArgument('created_at', 'must not be more than 5 minutes in the future');
  }
  return { ...backup, createdAt };
}

/** Whether two records of a backup id describe the same backup (what the client sent, not when). */
export function sameContents(a: BackupContents, b: BackupContents): boolean {
  return (
    a.backupId === b.backupId &&
    a.provider === b.provider &&
    a.providerName === b.providerName &&
    a.sizeBytes === b.sizeBytes &&
    Buffer.from(a.sha256).equals(Buffer.from(b.sha256)) &&
    a.endToEndEncrypted === b.endToEndEncrypted &&
    a.keyReference === b.keyReference &&
    a.messageCount === b.messageCount &&
    a.mediaCount === b.mediaCount &&
    a.createdAt?.getTime() === b.createdAt?.getTime() &&
    a.mediaIds.length === b.mediaIds.length &&
    a.mediaIds.every((mediaId, index) => mediaId === b.mediaIds[index])
  );
}

/** Where a backup stands in "newest first": by creation time, ties by backup id, both descending. */
export interface BackupPosition {
  readonly createdAt: Date;
  readonly backupId: string;
}

/** Compares for "newest first": negative when `a` comes before `b`. */
export function newestFirst(a: BackupPosition, b: BackupPosition): number {
  const byTime = b.createdAt.getTime() - a.createdAt.getTime();
  if (byTime !== 0) return byTime;
  return a.backupId < b.backupId ? 1 : a.backupId > b.backupId ? -1 : 0;
}
