import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccountDomainEvent } from '@tandem/accounts-domain';
import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import { type DocumentStore, EmbeddedDocumentStore, MongoDocumentStore } from '@tandem/documents';
import type { EventMetadata, ReceivedEvent } from '@tandem/event-sourcing';
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
