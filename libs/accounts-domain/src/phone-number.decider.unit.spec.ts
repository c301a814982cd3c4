import { deciderSpecification } from '@tandem/testing';
import { describe, it } from 'vitest';
import { type ClaimPhoneNumber, pendingClaimMs, phoneNumberDecider } from './phone-number.decider';

const spec = deciderSpecification(phoneNumberDecider);
const phoneNumber = '+4915112345678';
const claimedAt = new Date('2026-11-25T10:00:00Z');
const later = (ms: number) => new Date(claimedAt.getTime() + ms);

const claimedBy = (accountId: string, at = claimedAt) => ({
  $case: 'phoneNumberClaimed' as const,
  value: { phoneNumber, accountId, claimedAt: at },
});

const claim = (
  accountId: string,
  holderStatus: ClaimPhoneNumber['holderStatus'],
  now: Date,
): ClaimPhoneNumber => ({
  type: 'ClaimPhoneNumber',
  phoneNumber,
  accountId,
  holderStatus,
  now,
});

describe('the phone number decider', () => {
  describe('when an account claims a number', () => {
    it('records the claim for a number never claimed', () => {
      spec
        .given([])
        .when(claim('a1', 'unregistered', claimedAt))
        .then([claimedBy('a1')]);
    });

    it('refuses a number held by another registered account', () => {
      spec
        .given([claimedBy('a1')])
        .when(claim('a2', 'registered', later(10 * pendingClaimMs)))
        .thenThrows('already-exists', /already registered/);
    });

    it('refuses a number whose registration is under way', () => {
      spec
        .given([claimedBy('a1')])
        .when(claim('a2', 'unregistered', later(pendingClaimMs - 1)))
        .thenThrows('already-exists');
    });

    it('records the claim when the holder never finished registering', () => {
      spec
        .given([claimedBy('a1')])
        .when(claim('a2', 'unregistered', later(pendingClaimMs)))
        .then([claimedBy('a2', later(pendingClaimMs))]);
    });

    it('records the claim when the holder was deleted', () => {
      spec
        .given([claimedBy('a1')])
        .when(claim('a2', 'deleted', later(1)))
        .then([claimedBy('a2', later(1))]);
    });

    it('records nothing when the holder claims again', () => {
      spec
        .given([claimedBy('a1')])
        .when(claim('a1', 'registered', later(1)))
        .thenNothingHappens();
    });
  });
});
