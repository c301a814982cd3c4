/**
 * What a presence subscription may ask for: 1 to 256 account ids, each counted once, in the
 * order first given.
 */
import { invalidArgument } from '@tandem/decider';

export const MAX_SUBSCRIBED_ACCOUNTS = 256;

const MAX_ACCOUNT_ID_LENGTH = 64;

export function subscribedAccounts(accountIds: readonly string[]): string[] {
  const unique = [...new Set(accountIds)];
  if (unique.length === 0) throw invalidArgument('account_ids', 'name at least one account');
  if (unique.length > MAX_SUBSCRIBED_ACCOUNTS) {
    throw invalidArgument('account_ids', `name at most ${MAX_SUBSCRIBED_ACCOUNTS} accounts`);
  }
  if (unique.some((id) => id === '' || id.length > MAX_ACCOUNT_ID_LENGTH)) {
    throw invalidArgument(
      'account_ids',
      `each must be an account id of 1 to ${MAX_ACCOUNT_ID_LENGTH} characters`,
    );
  }
  return unique;
}
