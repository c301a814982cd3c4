/**
 * Presence privacy: who may see what of an account's presence. Last seen follows the account's
 * LastSeenVisibility setting: visible to everyone (EVERYONE, and the default), to the accounts it
 * has exchanged messages with (CONTACTS), or to no one (NOBODY). Online and offline are visible to
 * every subscriber, except that two accounts of which one blocks the other see nothing of each
 * other: offline, last seen hidden, no typing. An account always sees its own.
 */
import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import type { AccountPresence } from './account-presence';

/** What a subscriber sees of an account's presence. */
export interface PresenceView {
  readonly accountId: string;
  readonly online: boolean;
  /** Offline and visible: the latest moment any device was online. */
  readonly lastSeen?: Date;
  /** The account's setting hides last seen from this subscriber. */
  readonly lastSeenHidden: boolean;
}

export interface Viewer {
  /** The subscriber is the account itself. */
  readonly isSelf: boolean;
  /** The subscriber and the account exchanged messages. */
  readonly isContact: boolean;
  /** One of the two accounts blocks the other. */
  readonly isBlocked: boolean;
}

/** What a subscriber may see of an account's presence: all of it, online and offline only, or nothing. */
export type Sight = 'all' | 'online' | 'nothing';

/** Whether the visibility needs to know if the subscriber is a contact. */
export const needsContacts = (visibility: LastSeenVisibility): boolean =>
  visibility === LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS;

export function lastSeenVisible(visibility: LastSeenVisibility, viewer: Viewer): boolean {
  if (viewer.isSelf) return true;
  switch (visibility) {
    case LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY:
      return false;
    case LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS:
      return viewer.isContact;
    default:
      return true;
  }
}

export function sightOf(visibility: LastSeenVisibility, viewer: Viewer): Sight {
  if (viewer.isSelf) return 'all';
  if (viewer.isBlocked) return 'nothing';
  return lastSeenVisible(visibility, viewer) ? 'all' : 'online';
}

export function presenceSeenBy(presence: AccountPresence, sight: Sight): PresenceView {
  if (sight === 'nothing') return { accountId: presence.accountId, online: false, lastSeenHidden: true };
  const visible = sight === 'all';
  return {
    accountId: presence.accountId,
    online: presence.online,
    ...(visible && !presence.online && presence.lastSeen ? { lastSeen: presence.lastSeen } : {}),
    lastSeenHidden: !visible,
  };
}

export const sameView = (a: PresenceView | undefined, b: PresenceView): boolean =>
  a !== undefined &&
  a.accountId === b.accountId &&
  a.online === b.online &&
  a.lastSeenHidden === b.lastSeenHidden &&
  a.lastSeen?.getTime() === b.lastSeen?.getTime();

/** The id of the contact pair of two accounts, the same both ways round. */
export const contactPairId = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);
