export { backupsService } from './backups.service';
export { backupEventCodec } from './backups.codecs';
export { type BackupListRecord, BackupListsProjection } from './backup-lists.projection';
