/**
 * Last-seen privacy: who may see when an account was last online (the account's
 * LastSeenVisibility setting). Online and offline are visible to every subscriber; last seen is
 * visible to everyone (EVERYONE, and the default), to the accounts it has exchanged messages with
 * (CONTACTS), or to no one (NOBODY). An account always sees its own.
 */
import { LastSeenVisibility } from '@tandem/contracts/events/tandem/accounts/v1/settings';
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
}

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

export function presenceSeenBy(presence: AccountPresence, visible: boolean): PresenceView {
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
