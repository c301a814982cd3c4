/**
 * The PhoneNumber aggregate: one per E.164 number, so that a number belongs to at most one live
 * account. Registering claims the number first, then records the account.
 * Invariants:
 * - a number is held by the account of its newest claim while that account is registered and not
 *   deleted, and, while it is not registered yet, for `pendingClaimMs` after the claim (a
 *   registration under way); after that a registration that stopped half way holds nothing;
 * - claiming a number another account holds is refused with ALREADY_EXISTS;
 * - claiming a number again for the account that holds it records nothing.
 * Whether the holder is registered is a lookup the caller makes and passes in.
 */
import { alreadyExists, assertNever, type Decider } from '@tandem/decider';
import type { AccountDomainEvent } from './account.decider';

/** How long a claim holds its number while its account is not registered yet. */
export const pendingClaimMs = 60_000;

export interface PhoneNumberState {
  readonly holder: { readonly accountId: string; readonly claimedAt: Date } | undefined;
}

/** What the caller found of the holder's account. */
export type HolderStatus = 'registered' | 'deleted' | 'unregistered';

export interface ClaimPhoneNumber {
  readonly type: 'ClaimPhoneNumber';
  readonly phoneNumber: string;
  readonly accountId: string;
  /** The status of the holder's account; ignored when the number was never claimed. */
  readonly holderStatus: HolderStatus;
  readonly now: Date;
}

export type PhoneNumberCommand = ClaimPhoneNumber;

function isHeld(state: PhoneNumberState, command: ClaimPhoneNumber): boolean {
  if (state.holder === undefined) return false;
  switch (command.holderStatus) {
    case 'registered':
      return true;
    case 'deleted':
      return false;
    case 'unregistered':
      return command.now.getTime() - state.holder.claimedAt.getTime() < pendingClaimMs;
    default:
      return assertNever(command.holderStatus);
  }
}

function decide(command: PhoneNumberCommand, state: PhoneNumberState): AccountDomainEvent[] {
  switch (command.type) {
    case 'ClaimPhoneNumber':
      if (state.holder?.accountId === command.accountId) return [];
      if (isHeld(state, command)) {
        throw alreadyExists(`phone number ${command.phoneNumber} is already registered`);
      }
      return [
        {
          $case: 'phoneNumberClaimed',
          value: { phoneNumber: command.phoneNumber, accountId: command.accountId, claimedAt: command.now },
        },
      ];
    default:
      return assertNever(command.type);
  }
}

function evolve(state: PhoneNumberState, event: AccountDomainEvent): PhoneNumberState {
  return event.$case === 'phoneNumberClaimed'
    ? { holder: { accountId: event.value.accountId, claimedAt: event.value.claimedAt ?? new Date(0) } }
    : state;
}

export const phoneNumberDecider: Decider<PhoneNumberCommand, AccountDomainEvent, PhoneNumberState> = {
  decide,
  evolve,
  initialState: () => ({ holder: undefined }),
};

/** The stream id of a phone number's claims. */
export const phoneNumberStreamId = (phoneNumber: string): string => `phone-number:${phoneNumber}`;
