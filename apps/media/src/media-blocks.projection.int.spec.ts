import type { AccountEvent } from '@tandem/contracts/events/tandem/accounts/v1/events';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { expect } from 'vitest';
import { MediaBlocksProjection } from './media-blocks.projection';

type AccountDomainEvent = NonNullable<AccountEvent['event']>;

const onAccounts = eventsOn<AccountDomainEvent>('tandem.accounts.events', 'tandem.accounts.v1.AccountEvent');

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

describeProjection({
  name: 'media blocks',
  create: (store) => new MediaBlocksProjection(store.collection('blocks')),
  apply: (blocks, event) => blocks.apply(event),
  collections: ['blocks'],
  history: [
    blocked('acc-a', 'acc-b', 2),
    onAccounts(
      {
        $case: 'accountDeleted',
        value: { accountId: 'acc-d', phoneNumber: '+4915100000004', byDeviceId: 1 },
      },
      'acc-d',
      2,
    ),
    blocked('acc-a', 'acc-c', 3),
    blocked('acc-b', 'acc-a', 2),
    unblocked('acc-a', 'acc-b', 4),
    blocked('acc-c', 'acc-b', 2),
    unblocked('acc-c', 'acc-b', 3),
    blocked('acc-c', 'acc-b', 4),
  ],
  stale: [blocked('acc-a', 'acc-b', 3), unblocked('acc-a', 'acc-c', 2), unblocked('acc-c', 'acc-b', 2)],
  expectDocuments: ({ blocks }) => {
    expect(blocks).toEqual([
      { _id: 'acc-a>acc-b', accountId: 'acc-a', blockedAccountId: 'acc-b', blocked: false, version: 4 },
      { _id: 'acc-a>acc-c', accountId: 'acc-a', blockedAccountId: 'acc-c', blocked: true, version: 3 },
      { _id: 'acc-b>acc-a', accountId: 'acc-b', blockedAccountId: 'acc-a', blocked: true, version: 2 },
      { _id: 'acc-c>acc-b', accountId: 'acc-c', blockedAccountId: 'acc-b', blocked: true, version: 4 },
    ]);
  },
});
