export { presenceService } from './presence.service';
