import { main } from '@tandem/runtime';
import { backupsService } from './backups.service';

main('backups', [backupsService]);
