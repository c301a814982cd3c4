import { main } from '@tandem/runtime';
import { fanoutService } from './fanout.service';

main('fanout', [fanoutService]);
