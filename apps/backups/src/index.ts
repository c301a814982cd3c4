export { backupsService } from './backups.service';
