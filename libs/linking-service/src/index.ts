export { linkingService } from './linking.service';
