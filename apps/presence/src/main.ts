import { main } from '@tandem/runtime';
import { presenceService } from './presence.service';

main('presence', [presenceService]);
