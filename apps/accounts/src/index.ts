export { accountsService } from './accounts.service';
