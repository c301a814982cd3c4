import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { authenticatedDevice, DeviceAuthGuard, requireOwnAccount } from '@tandem/auth';
import {
  type BackupPosition,
  findBackup,
  type RecordedBackup,
  validateProvider,
} from '@tandem/backups-domain';
import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import {
  type Backup,
  BackupsServiceService,
  type DeleteBackupRequest,
  type DeleteBackupResponse,
  type GetLatestBackupRequest,
  type GetLatestBackupResponse,
  type ListBackupsRequest,
  type ListBackupsResponse,
  type RecordBackupRequest,
  type RecordBackupResponse,
} from '@tandem/contracts/tandem/backups/v1/backups_service';
import { invalidArgument, notFound } from '@tandem/decider';
import { type GrpcController, GrpcServiceMethods, requestContext } from '@tandem/grpc';
import { type BackupListEntry, BackupListsProjection } from './backup-lists.projection';
import { BackupCommands } from './backups.commands';

export const pageSizes = { default: 20, max: 100 } as const;

function requireAccountId(accountId: string): string {
  if (!accountId) throw invalidArgument('account_id', 'is required');
  return accountId;
}

/** The page token names the last backup of the page: its creation time and id. */
function pageToken(entry: BackupListEntry): string {
  return Buffer.from(JSON.stringify([entry.createdAt, entry.backupId])).toString('base64url');
}

function afterToken(token: string): BackupPosition | undefined {
  if (token === '') return undefined;
  const refuse = () => invalidArgument('page_token', 'is not a next_page_token of ListBackups');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw refuse();
  const [createdAt, backupId] = decoded as unknown[];
  if (typeof createdAt !== 'string' || typeof backupId !== 'string') throw refuse();
  const position = { createdAt: new Date(createdAt), backupId };
  if (Number.isNaN(position.createdAt.getTime())) throw refuse();
  return position;
}

function fromRecorded(backup: RecordedBackup): Backup {
  return {
    backupId: backup.backupId,
    provider: backup.provider,
    providerName: backup.providerName,
    sizeBytes: backup.sizeBytes,
    sha256: Buffer.from(backup.sha256),
    endToEndEncrypted: backup.endToEndEncrypted,
    keyReference: backup.keyReference,
    messageCount: backup.messageCount,
    mediaCount: backup.mediaCount,
    createdAt: backup.createdAt,
    recordedAt: backup.recordedAt,
    recordedByDeviceId: backup.recordedByDeviceId,
  };
}

function fromEntry(entry: BackupListEntry): Backup {
  return {
    ...entry,
    sha256: Buffer.from(entry.sha256, 'base64'),
    createdAt: new Date(entry.createdAt),
    recordedAt: new Date(entry.recordedAt),
  };
}

/**
 * BackupsService: records and deletes through the backup-list aggregate (primary only, as the
 * decider says), reads from the backup lists read model. Every RPC is for the caller's own account.
 */
@Controller()
@GrpcServiceMethods(BackupsServiceService)
@UseGuards(DeviceAuthGuard)
export class BackupsGrpcController implements GrpcController<typeof BackupsServiceService> {
  constructor(
    @Inject(BackupCommands) private readonly commands: BackupCommands,
    @Inject(BackupListsProjection) private readonly lists: BackupListsProjection,
  ) {}

  async recordBackup(request: RecordBackupRequest, metadata?: Metadata): Promise<RecordBackupResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    const { events, state, version } = await this.commands.record(
      device.accountId,
      device,
      {
        backupId: request.backupId,
        provider: request.provider,
        providerName: request.providerName,
        sizeBytes: request.sizeBytes,
        sha256: request.sha256,
        endToEndEncrypted: request.endToEndEncrypted,
        keyReference: request.keyReference,
        messageCount: request.messageCount,
        mediaCount: request.mediaCount,
        createdAt: request.createdAt,
        mediaIds: request.mediaIds ?? [],
      },
      requestContext(metadata),
    );
    const backup = findBackup(state, request.backupId);
    if (!backup) throw new Error(`backup ${request.backupId} missing after it was recorded`);
    return {
      backup: fromRecorded(backup),
      recorded: events.length > 0,
      prunedBackupIds: events.flatMap((event) =>
        event.$case === 'backupPruned' ? [event.value.backupId] : [],
      ),
      version,
    };
  }

  async listBackups(request: ListBackupsRequest, metadata?: Metadata): Promise<ListBackupsResponse> {
    requireOwnAccount(authenticatedDevice(metadata), requireAccountId(request.accountId));
    const pageSize = Math.min(request.pageSize || pageSizes.default, pageSizes.max);
    const page = await this.lists.page(request.accountId, pageSize, afterToken(request.pageToken));
    const last = page.backups.at(-1);
    return {
      backups: page.backups.map(fromEntry),
      nextPageToken: page.more && last ? pageToken(last) : '',
      version: page.version,
    };
  }

  async getLatestBackup(
    request: GetLatestBackupRequest,
    metadata?: Metadata,
  ): Promise<GetLatestBackupResponse> {
    requireOwnAccount(authenticatedDevice(metadata), requireAccountId(request.accountId));
    const provider =
      request.provider === BackupProvider.BACKUP_PROVIDER_UNSPECIFIED
        ? undefined
        : validateProvider(request.provider);
    const latest = await this.lists.latest(request.accountId, provider);
    if (!latest)
      throw notFound(provider ? 'the account has no backup of this provider' : 'the account has no backup');
    return { backup: fromEntry(latest.backup), version: latest.version };
  }

  async deleteBackup(request: DeleteBackupRequest, metadata?: Metadata): Promise<DeleteBackupResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    const { version } = await this.commands.delete(
      device.accountId,
      device,
      request.backupId,
      requestContext(metadata),
    );
    return { version };
  }
}
