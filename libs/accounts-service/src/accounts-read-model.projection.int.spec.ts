import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccountDomainEvent } from '@tandem/accounts-domain';
import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import { type DocumentStore, EmbeddedDocumentStore, MongoDocumentStore } from '@tandem/documents';
import type { EventMetadata, ReceivedEvent } from '@tandem/event-sourcing';
import { describeProjection, eventsOn } from '@tandem/projection-testing';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountRecord, AccountsReadModel } from './accounts-read-model.projection';

const accountId = 'acc-1';

function received(
  event: AccountDomainEvent,
  version: number,
  aggregateId = accountId,
): ReceivedEvent<AccountDomainEvent> {
  const metadata: EventMetadata = {
    eventId: `e${version}-${aggregateId}`,
    type: event.$case,
    aggregateId,
    aggregateVersion: version,
    occurredAt: new Date('2026-11-25T10:00:00Z'),
    correlationId: 'c',
    causationId: 'c',
    traceparent: '',
    tracestate: '',
    partitionKey: accountId,
    payloadType: 'tandem.accounts.v1.AccountEvent',
    topic: 'tandem.accounts.events',
    partition: 0,
    offset: String(version),
  };
  return { event, metadata };
}

const history = [
  received(
    {
      $case: 'phoneNumberClaimed',
      value: { phoneNumber: '+4915112345678', accountId, claimedAt: new Date() },
    },
    1,
    'phone-number:+4915112345678',
  ),
  received(
    {
      $case: 'accountRegistered',
      value: {
        accountId,
        phoneNumber: '+4915112345678',
        primaryIdentityKey: Buffer.alloc(32),
        primaryRegistrationId: 1,
        primaryDeviceName: 'Pixel',
        registeredAt: new Date(),
      },
    },
    1,
  ),
  received(
    {
      $case: 'profileUpdated',
      value: { accountId, displayName: 'Ada', about: 'Hi', avatarRef: '', byDeviceId: 1 },
    },
    2,
  ),
  received(
    {
      $case: 'settingsUpdated',
      value: {
        accountId,
        lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
        backupFrequency: 1,
        backupWifiOnly: true,
        backupIncludeVideos: false,
        byDeviceId: 1,
      },
    },
    3,
  ),
  received(
    {
      $case: 'profileUpdated',
      value: { accountId, displayName: 'Ada L.', about: 'Hi', avatarRef: '', byDeviceId: 2 },
    },
    4,
  ),
];

async function applyAll(model: AccountsReadModel, events: readonly ReceivedEvent<AccountDomainEvent>[]) {
  for (const event of events) await model.apply(event);
}

function describeReadModel(
  name: string,
  open: () => Promise<{ store: DocumentStore; close(): Promise<void> }>,
) {
  describe(`the accounts read model (${name})`, () => {
    let store: DocumentStore;
    let close: () => Promise<void>;
    let model: AccountsReadModel;

    beforeAll(async () => {
      ({ store, close } = await open());
      model = new AccountsReadModel(
        store.collection<AccountRecord>('accounts'),
        store.collection('phone_numbers'),
      );
    });

    afterAll(async () => {
      await close();
    });

    it('follows the account through its events and finds it by phone number', async () => {
      await applyAll(model, history);
      const account = await model.byPhoneNumber('+4915112345678');
      expect(account).toMatchObject({
        accountId,
        displayName: 'Ada L.',
        lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
        version: 4,
        deleted: false,
      });
    });

    it('changes nothing when events are delivered again or late', async () => {
      const before = await model.byId(accountId);
      await applyAll(model, history);
      await model.apply(history[2]!);
      expect(await model.byId(accountId)).toEqual(before);
    });

    it('rebuilds the same documents when dropped and replayed from the start', async () => {
      const before = await model.byId(accountId);
      await store.drop();
      expect(await model.byId(accountId)).toBeNull();
      await applyAll(model, history);
      expect(await model.byId(accountId)).toEqual(before);
    });

    it('finds a number by the account that claimed it last, and nothing while that one is not registered', async () => {
      const phoneNumber = '+4915199999999';
      const claim = (claimant: string, version: number) =>
        received(
          { $case: 'phoneNumberClaimed', value: { phoneNumber, accountId: claimant, claimedAt: new Date() } },
          version,
          `phone-number:${phoneNumber}`,
        );
      const registered = (registrant: string) =>
        received(
          {
            $case: 'accountRegistered',
            value: {
              accountId: registrant,
              phoneNumber,
              primaryIdentityKey: Buffer.alloc(32),
              primaryRegistrationId: 1,
              primaryDeviceName: 'Pixel',
              registeredAt: new Date(),
            },
          },
          1,
          registrant,
        );
      await applyAll(model, [claim('acc-old', 1), registered('acc-old')]);
      expect((await model.byPhoneNumber(phoneNumber))?.accountId).toBe('acc-old');

      await model.apply(claim('acc-new', 2));
      expect(await model.byPhoneNumber(phoneNumber)).toBeNull();
      await model.apply(registered('acc-new'));
      expect((await model.byPhoneNumber(phoneNumber))?.accountId).toBe('acc-new');

      await model.apply(claim('acc-old', 1));
      expect((await model.byPhoneNumber(phoneNumber))?.accountId).toBe('acc-new');
    });

    it('forgets a deleted account for lookups', async () => {
      await model.apply(
        received(
          { $case: 'accountDeleted', value: { accountId, phoneNumber: '+4915112345678', byDeviceId: 1 } },
          5,
        ),
      );
      expect(await model.byPhoneNumber('+4915112345678')).toBeNull();
      expect(await model.byId(accountId)).toBeNull();
    });
  });
}

describeReadModel('MongoDB protocol', async () => {
  const client = await MongoClient.connect(testInfrastructure().mongoUri);
  const db = client.db(uniqueName('read_model'));
  return {
    store: new MongoDocumentStore(db),
    close: async () => {
      await db.dropDatabase();
      await client.close();
    },
  };
});

describeReadModel('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-read-model-'));
  const store = new EmbeddedDocumentStore({ dataDir });
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

const onAccounts = eventsOn<AccountDomainEvent>('tandem.accounts.events', 'tandem.accounts.v1.AccountEvent');
const registeredAt = new Date('2026-11-25T09:00:00.000Z');
const numberA = '+4915100000001';
const numberB = '+4915100000002';

const claimed = (phoneNumber: string, account: string, version: number) =>
  onAccounts(
    { $case: 'phoneNumberClaimed', value: { phoneNumber, accountId: account, claimedAt: registeredAt } },
    `phone-number:${phoneNumber}`,
    version,
  );
const registered = (account: string, phoneNumber: string) =>
  onAccounts(
    {
      $case: 'accountRegistered',
      value: {
        accountId: account,
        phoneNumber,
        primaryIdentityKey: Buffer.alloc(32, 1),
        primaryRegistrationId: 7,
        primaryDeviceName: 'Pixel',
        registeredAt,
      },
    },
    account,
    1,
  );
const profile = (account: string, version: number, displayName: string) =>
  onAccounts(
    {
      $case: 'profileUpdated',
      value: { accountId: account, displayName, about: 'Hi', avatarRef: '', byDeviceId: 1 },
    },
    account,
    version,
  );

describeProjection({
  name: 'accounts read model',
  create: (store) => new AccountsReadModel(store.collection('accounts'), store.collection('phone_numbers')),
  apply: (model, event) => model.apply(event),
  collections: ['accounts', 'phone_numbers'],
  history: [
    claimed(numberA, 'acc-a', 1),
    registered('acc-a', numberA),
    claimed(numberB, 'acc-b', 1),
    registered('acc-b', numberB),
    profile('acc-a', 2, 'Ada'),
    onAccounts(
      {
        $case: 'settingsUpdated',
        value: {
          accountId: 'acc-a',
          lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS,
          backupFrequency: 2,
          backupWifiOnly: false,
          backupIncludeVideos: true,
          byDeviceId: 1,
        },
      },
      'acc-a',
      3,
    ),
    onAccounts(
      { $case: 'accountBlocked', value: { accountId: 'acc-a', blockedAccountId: 'acc-b', byDeviceId: 1 } },
      'acc-a',
      4,
    ),
    profile('acc-b', 2, 'Bob'),
    onAccounts(
      {
        $case: 'accountReregistered',
        value: {
          accountId: 'acc-a',
          phoneNumber: numberA,
          primaryIdentityKey: Buffer.alloc(32, 2),
          primaryRegistrationId: 8,
          primaryDeviceName: 'Pixel 10',
          reregisteredAt: registeredAt,
        },
      },
      'acc-a',
      5,
    ),
    profile('acc-a', 6, 'Ada L.'),
    onAccounts(
      { $case: 'accountDeleted', value: { accountId: 'acc-b', phoneNumber: numberB, byDeviceId: 1 } },
      'acc-b',
      3,
    ),
    claimed(numberB, 'acc-c', 2),
    registered('acc-c', numberB),
  ],
  stale: [
    profile('acc-a', 2, 'Ada of old'),
    profile('acc-b', 2, 'Bob of old'),
    claimed(numberB, 'acc-x', 1),
    registered('acc-a', '+4915100000009'),
  ],
  expectDocuments: ({ accounts, phone_numbers }) => {
    expect(phone_numbers).toEqual([
      { _id: numberA, accountId: 'acc-a', version: 1 },
      { _id: numberB, accountId: 'acc-c', version: 2 },
    ]);
    expect(accounts).toMatchObject([
      {
        _id: 'acc-a',
        phoneNumber: numberA,
        displayName: 'Ada L.',
        lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS,
        backupFrequency: 2,
        backupIncludeVideos: true,
        deleted: false,
        version: 6,
      },
      { _id: 'acc-b', phoneNumber: numberB, displayName: 'Bob', deleted: true, version: 3 },
      { _id: 'acc-c', phoneNumber: numberB, displayName: '', deleted: false, version: 1 },
    ]);
  },
});
