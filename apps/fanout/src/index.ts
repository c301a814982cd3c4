export { fanoutService } from './fanout.service';
