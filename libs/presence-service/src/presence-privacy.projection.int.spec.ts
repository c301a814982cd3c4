import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { expect } from 'vitest';
import { PresencePrivacy } from './presence-privacy.projection';
import type { AccountDomainEvent, FanoutDomainEvent } from './presence.codecs';

const onAccounts = eventsOn<AccountDomainEvent>('tandem.accounts.events', 'tandem.accounts.v1.AccountEvent');
const onFanout = eventsOn<FanoutDomainEvent>('tandem.fanout.events', 'tandem.fanout.v1.FanoutEvent');

type Received = ReceivedEvent<AccountDomainEvent> | ReceivedEvent<FanoutDomainEvent>;
const isFanout = (received: Received): received is ReceivedEvent<FanoutDomainEvent> =>
  received.metadata.topic === 'tandem.fanout.events';

const visibility = (accountId: string, version: number, lastSeenVisibility: LastSeenVisibility) =>
  onAccounts(
    {
      $case: 'settingsUpdated',
      value: {
        accountId,
        lastSeenVisibility,
        backupFrequency: 1,
        backupWifiOnly: true,
        backupIncludeVideos: false,
        byDeviceId: 1,
      },
    },
    accountId,
    version,
  );
const blocked = (accountId: string, blockedAccountId: string, version: number) =>
  onAccounts(
    { $case: 'accountBlocked', value: { accountId, blockedAccountId, byDeviceId: 1 } },
    accountId,
    version,
  );
const unblocked = (accountId: string, unblockedAccountId: string, version: number) =>
  onAccounts(
    { $case: 'accountUnblocked', value: { accountId, unblockedAccountId, byDeviceId: 1 } },
    accountId,
    version,
  );

let messages = 0;
/** A message from the sender to the recipient, as fanout records it: keyed by the recipient. */
const accepted = (senderAccountId: string, accountId: string) => {
  const serverMessageId = `msg-${++messages}`;
  return onFanout(
    {
      $case: 'messageAccepted',
      value: {
        accountId,
        serverMessageId,
        serverTimestamp: new Date('2026-11-25T10:00:00.000Z'),
        senderAccountId,
        senderDeviceId: 1,
        clientMessageId: `client-${messages}`,
        recipientListVersion: 1,
        envelopes: [
          {
            accountId,
            deviceId: 1,
            registrationId: 101,
            type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
            content: Buffer.from('x'),
          },
        ],
      },
    },
    serverMessageId,
    1,
    { partitionKey: accountId },
  );
};

describeProjection<PresencePrivacy, Received>({
  name: 'presence privacy',
  create: (store) =>
    new PresencePrivacy(
      store.collection('last_seen_visibility'),
      store.collection('contacts'),
      store.collection('blocks'),
    ),
  /** As presence's consumers do: accounts events one by one, a message between two accounts as a contact. */
  apply: async (privacy, received) => {
    if (!isFanout(received)) return privacy.apply(received);
    const { event } = received;
    if (event.$case === 'messageAccepted' && event.value.senderAccountId !== event.value.accountId) {
      return privacy.learnContacts([[event.value.senderAccountId, event.value.accountId]]);
    }
    return undefined;
  },
  collections: ['last_seen_visibility', 'contacts', 'blocks'],
  history: [
    visibility('acc-a', 2, LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS),
    accepted('acc-a', 'acc-b'),
    visibility('acc-b', 2, LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY),
    accepted('acc-b', 'acc-a'),
    accepted('acc-c', 'acc-a'),
    accepted('acc-c', 'acc-c'),
    blocked('acc-a', 'acc-c', 3),
    visibility('acc-c', 2, LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE),
    blocked('acc-c', 'acc-b', 3),
    unblocked('acc-a', 'acc-c', 4),
    visibility('acc-a', 5, LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE),
    onAccounts(
      {
        $case: 'accountDeleted',
        value: { accountId: 'acc-c', phoneNumber: '+4915100000003', byDeviceId: 1 },
      },
      'acc-c',
      4,
    ),
  ],
  stale: [
    visibility('acc-a', 2, LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY),
    visibility('acc-c', 3, LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS),
    blocked('acc-a', 'acc-c', 2),
    unblocked('acc-c', 'acc-b', 2),
  ],
  expectDocuments: ({ last_seen_visibility, contacts, blocks }) => {
    expect(last_seen_visibility).toEqual([
      { _id: 'acc-a', visibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE, version: 5 },
      { _id: 'acc-b', visibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY, version: 2 },
      { _id: 'acc-c', visibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_UNSPECIFIED, version: 4 },
    ]);
    expect(contacts).toEqual([
      { _id: 'acc-a|acc-b', accounts: ['acc-a', 'acc-b'] },
      { _id: 'acc-a|acc-c', accounts: ['acc-a', 'acc-c'] },
    ]);
    expect(blocks).toEqual([
      { _id: 'acc-a>acc-c', blocked: false, version: 4 },
      { _id: 'acc-c>acc-b', blocked: true, version: 3 },
    ]);
  },
});
