import { main } from '@tandem/runtime';
import { linkingService } from './linking.service';

main('linking', [linkingService]);
