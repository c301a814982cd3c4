import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import { isDomainError } from '@tandem/decider';
import { describe, expect, it } from 'vitest';
import type { AccountPresence } from './account-presence';
import { contactPairId, lastSeenVisible, needsContacts, presenceSeenBy, sameView, sightOf } from './privacy';
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
const stranger = { isSelf: false, isContact: false, isBlocked: false };
const contact = { isSelf: false, isContact: true, isBlocked: false };
const self = { isSelf: true, isContact: false, isBlocked: false };

describe('presence privacy', () => {
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

  describe('given that one of the two accounts blocks the other', () => {
    it('shows nothing, whatever the setting, but the account still sees itself', () => {
      for (const visibility of [EVERYONE, CONTACTS, NOBODY]) {
        expect(sightOf(visibility, { ...contact, isBlocked: true })).toBe('nothing');
        expect(sightOf(visibility, { ...self, isBlocked: true })).toBe('all');
      }
      expect(sightOf(EVERYONE, stranger)).toBe('all');
      expect(sightOf(NOBODY, contact)).toBe('online');
    });

    it('is offline without last seen, even while the account is online', () => {
      expect(presenceSeenBy(online, 'nothing')).toEqual({
        accountId: 'bob',
        online: false,
        lastSeenHidden: true,
      });
      expect(presenceSeenBy(offline, 'nothing')).toEqual({
        accountId: 'bob',
        online: false,
        lastSeenHidden: true,
      });
    });
  });

  describe('what a subscriber sees', () => {
    it('is offline with last seen when visible', () => {
      expect(presenceSeenBy(offline, 'all')).toEqual({
        accountId: 'bob',
        online: false,
        lastSeen,
        lastSeenHidden: false,
      });
    });

    it('is offline without last seen when hidden, saying it is hidden', () => {
      expect(presenceSeenBy(offline, 'online')).toEqual({
        accountId: 'bob',
        online: false,
        lastSeenHidden: true,
      });
    });

    it('is online without last seen and without devices', () => {
      expect(presenceSeenBy(online, 'all')).toEqual({
        accountId: 'bob',
        online: true,
        lastSeenHidden: false,
      });
    });

    it('changes when online, last seen or its visibility changes', () => {
      const seen = presenceSeenBy(offline, 'all');
      expect(sameView(seen, presenceSeenBy({ ...offline, lastSeen: new Date(lastSeen) }, 'all'))).toBe(true);
      expect(sameView(undefined, seen)).toBe(false);
      expect(sameView(seen, presenceSeenBy(offline, 'online'))).toBe(false);
      expect(sameView(seen, presenceSeenBy(online, 'all'))).toBe(false);
      expect(sameView(seen, presenceSeenBy({ ...offline, lastSeen: new Date(0) }, 'all'))).toBe(false);
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
