import { main } from '@tandem/runtime';
import { accountsService } from './accounts.service';

main('accounts', [accountsService]);
