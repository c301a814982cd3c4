import { LastSeenVisibility } from '@tandem/contracts/events/tandem/accounts/v1/settings';
import { isDomainError } from '@tandem/decider';
import { describe, expect, it } from 'vitest';
import type { AccountPresence } from './account-presence';
import { contactPairId, lastSeenVisible, needsContacts, presenceSeenBy, sameView } from './privacy';
import { MAX_SUBSCRIBED_ACCOUNTS, subscribedAccounts } from './subscription';

const lastSeen = new Date('2026-11-25T12:00:00.000Z');
const offline: AccountPresence = { accountId: 'bob', online: false, lastSeen, devices: [] };
const online: AccountPresence = {
  accountId: 'bob',
  online: true,
  devices: [{ deviceId: 1, connections: [{ instanceId: 'f1', connectedAt: lastSeen }] }],
};
const {
  LAST_SEEN_VISIBILITY_UNSPECIFIED: UNSPECIFIED,
  LAST_SEEN_VISIBILITY_EVERYONE: EVERYONE,
  LAST_SEEN_VISIBILITY_CONTACTS: CONTACTS,
  LAST_SEEN_VISIBILITY_NOBODY: NOBODY,
} = LastSeenVisibility;
const stranger = { isSelf: false, isContact: false };
const contact = { isSelf: false, isContact: true };
const self = { isSelf: true, isContact: false };

describe('last-seen privacy', () => {
  describe('given the setting EVERYONE, or none', () => {
    it('shows last seen to every subscriber', () => {
      for (const visibility of [EVERYONE, UNSPECIFIED]) {
        expect(lastSeenVisible(visibility, stranger)).toBe(true);
        expect(needsContacts(visibility)).toBe(false);
      }
    });
  });

  describe('given the setting CONTACTS', () => {
    it('shows last seen only to accounts it exchanged messages with', () => {
      expect(needsContacts(CONTACTS)).toBe(true);
      expect(lastSeenVisible(CONTACTS, contact)).toBe(true);
      expect(lastSeenVisible(CONTACTS, stranger)).toBe(false);
    });
  });

  describe('given the setting NOBODY', () => {
    it('shows last seen to no one but the account itself', () => {
      expect(lastSeenVisible(NOBODY, contact)).toBe(false);
      expect(lastSeenVisible(NOBODY, self)).toBe(true);
    });
  });

  describe('what a subscriber sees', () => {
    it('is offline with last seen when visible', () => {
      expect(presenceSeenBy(offline, true)).toEqual({
        accountId: 'bob',
        online: false,
        lastSeen,
        lastSeenHidden: false,
      });
    });

    it('is offline without last seen when hidden, saying it is hidden', () => {
      expect(presenceSeenBy(offline, false)).toEqual({
        accountId: 'bob',
        online: false,
        lastSeenHidden: true,
      });
    });

    it('is online without last seen and without devices', () => {
      expect(presenceSeenBy(online, true)).toEqual({ accountId: 'bob', online: true, lastSeenHidden: false });
    });

    it('changes when online, last seen or its visibility changes', () => {
      const seen = presenceSeenBy(offline, true);
      expect(sameView(seen, presenceSeenBy({ ...offline, lastSeen: new Date(lastSeen) }, true))).toBe(true);
      expect(sameView(undefined, seen)).toBe(false);
      expect(sameView(seen, presenceSeenBy(offline, false))).toBe(false);
      expect(sameView(seen, presenceSeenBy(online, true))).toBe(false);
      expect(sameView(seen, presenceSeenBy({ ...offline, lastSeen: new Date(0) }, true))).toBe(false);
    });
  });

  it('names a contact pair the same both ways round', () => {
    expect(contactPairId('alice', 'bob')).toBe(contactPairId('bob', 'alice'));
    expect(contactPairId('alice', 'bob')).not.toBe(contactPairId('alice', 'carol'));
  });
});

describe('subscribed accounts', () => {
  const field = (ids: string[]) => {
    try {
      subscribedAccounts(ids);
    } catch (error) {
      if (isDomainError(error)) return error.field;
      throw error;
    }
    return undefined;
  };

  it('counts each account once, in the order first given', () => {
    expect(subscribedAccounts(['b', 'a', 'b'])).toEqual(['b', 'a']);
  });

  it(`takes up to ${MAX_SUBSCRIBED_ACCOUNTS} accounts and refuses none, more or an empty id`, () => {
    const many = Array.from({ length: MAX_SUBSCRIBED_ACCOUNTS + 1 }, (_, index) => `account-${index}`);
    expect(subscribedAccounts(many.slice(1))).toHaveLength(MAX_SUBSCRIBED_ACCOUNTS);
    expect(field(many)).toBe('account_ids');
    expect(field([])).toBe('account_ids');
    expect(field(['a', ''])).toBe('account_ids');
  });
});
