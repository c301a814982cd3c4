import { randomUUID } from 'node:crypto';
import { accountEventCodec, type AccountRecord, AccountsReadModel } from '@tandem/accounts-service';
import { BlocksProjection } from '@tandem/accounts-events';
import { PLAINTEXT } from '@tandem/config';
import { MongoDocumentStore } from '@tandem/documents';
import { consumeEvents } from '@tandem/event-sourcing';
import {
  DeviceListsProjection,
  fanoutEventCodec,
  InboxesProjection,
  InboxTiers,
} from '@tandem/fanout-service';
import { DeviceDirectory, deviceListEventCodec } from '@tandem/linking-events';
import { KafkaEventLog, type KafkaLogger, type Subscription } from '@tandem/messaging';
import { type ContactDocument, PresencePrivacy } from '@tandem/presence-service';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Connection, serviceGroup, serviceTopic } from './connection';
import { resetConsumerGroup } from './consumers-reset.command';
import type { EventJson } from './event-json';
import { KafkaLogSource } from './log-source.kafka';
import { openReadModelStores, type ReadModelStores } from './read-model-stores';
import { readEvents, type ReadEventsOptions } from './read.command';
import { rebuild, rebuildProjection } from './rebuild.command';
import {
  accountBlocked,
  accountRegistered,
  capturedIO,
  deviceLinked,
  eventRecord,
  inboxAcked,
  messageAccepted,
  profileUpdated,
  receiptIssued,
  sentMessageSynced,
} from './replay-fixtures';
import { showSummary } from './summary.command';
import { traceMessage, type TraceItem } from './trace.command';

const ignore = (): void => undefined;
const quiet: KafkaLogger = { error: ignore, warn: ignore, info: ignore, debug: ignore };

/**
 * The replay commands against real Kafka and a MongoDB-protocol server, with an installation of its
 * own (topic prefix, database prefix): crafted events published with the real codecs and envelope,
 * live read models written by the services' projection classes through real consumers.
 */
describe('replay and inspection on Kafka and MongoDB', () => {
  const { kafkaBrokers, mongoUri } = testInfrastructure();
  const topicPrefix = `${uniqueName('replay')}.`;
  const databasePrefix = uniqueName('replay');
  const connection: Connection = {
    mode: 'distributed',
    brokers: kafkaBrokers,
    security: PLAINTEXT,
    mongoUri,
    databasePrefix,
    topicPrefix,
  };
  const topics = {
    accounts: serviceTopic(connection, 'accounts'),
    linking: serviceTopic(connection, 'linking'),
    fanout: serviceTopic(connection, 'fanout'),
  };
  const alice = `alice-${randomUUID()}`;
  const bob = `bob-${randomUUID()}`;
  const carol = `carol-${randomUUID()}`;
  const messageId = randomUUID();
  const ciphertext = Buffer.from('opaque ciphertext \u0000\u00ff', 'latin1');
  const t0 = new Date(Date.now() - 60_000);
  const after = (ms: number) => new Date(t0.getTime() + ms);

  let log: KafkaEventLog;
  let client: MongoClient;
  let source: KafkaLogSource;
  let stores: ReadModelStores;
  const subscriptions: Subscription[] = [];
  const scratchDatabases: string[] = [];
  const scratch = () => {
    const name = uniqueName('scratch');
    scratchDatabases.push(name);
    return name;
  };
  const liveStore = (service: string) =>
    new MongoDocumentStore(client.db(`${databasePrefix}_${service}`), { collectionPrefix: 'read_' });

  beforeAll(async () => {
    log = new KafkaEventLog({
      brokers: kafkaBrokers,
      clientId: uniqueName('replay'),
      logger: quiet,
      onError: ignore,
    });
    await log.ensureTopics(Object.values(topics).map((name) => ({ name, partitions: 3 })));
    client = await MongoClient.connect(mongoUri);
    source = new KafkaLogSource(kafkaBrokers, ignore);
    stores = openReadModelStores(connection);

    await log.publish(topics.accounts, [
      eventRecord(accountEventCodec, accountRegistered(alice, '+4915100000001'), { occurredAt: t0 }),
      eventRecord(accountEventCodec, accountRegistered(bob, '+4915100000002'), { occurredAt: t0 }),
      eventRecord(accountEventCodec, profileUpdated(alice, 'Ada'), {
        occurredAt: after(1_000),
        version: 2,
        correlationId: 'profile-request',
      }),
      eventRecord(accountEventCodec, accountBlocked(bob, carol), { occurredAt: after(1_000), version: 2 }),
    ]);
    await log.publish(topics.linking, [
      eventRecord(deviceListEventCodec, deviceLinked(alice, 1, 1), { occurredAt: t0, version: 1 }),
      eventRecord(deviceListEventCodec, deviceLinked(alice, 2, 2), { occurredAt: after(100), version: 2 }),
      eventRecord(deviceListEventCodec, deviceLinked(bob, 1, 1), { occurredAt: t0, version: 1 }),
      eventRecord(deviceListEventCodec, deviceLinked(bob, 2, 2), { occurredAt: after(100), version: 2 }),
    ]);

    // The live read models, kept by the services' classes through real consumer groups.
    const accounts = new AccountsReadModel(
      liveStore('accounts').collection('accounts'),
      liveStore('accounts').collection('phone_numbers'),
    );
    const fanout = liveStore('fanout');
    const directory = new DeviceDirectory(fanout.collection('devices'));
    const lists = new DeviceListsProjection(fanout.collection('device_lists'));
    const blocks = new BlocksProjection(fanout.collection('blocks'));
    const inboxTiers = new InboxTiers(fanout.collection('inbox_heads'), fanout.collection('inbox_entries'));
    const inboxes = new InboxesProjection(inboxTiers);
    subscriptions.push(
      await consumeEvents(log, {
        groupId: serviceGroup(connection, 'accounts', 'read-model'),
        topic: topics.accounts,
        codec: accountEventCodec,
        handle: (received) => accounts.apply(received),
      }),
      await consumeEvents(log, {
        groupId: serviceGroup(connection, 'fanout', 'accounts-events'),
        topic: topics.accounts,
        codec: accountEventCodec,
        handle: (received) => blocks.apply(received),
      }),
      await consumeEvents(log, {
        groupId: serviceGroup(connection, 'fanout', 'linking-events'),
        topic: topics.linking,
        codec: deviceListEventCodec,
        handle: async (received) => {
          await directory.apply(received);
          await lists.apply(received);
        },
      }),
    );
    await vi.waitFor(
      async () => {
        expect((await accounts.byId(alice))?.displayName).toBe('Ada');
        expect((await lists.get(bob))?.devices).toHaveLength(2);
        expect((await lists.get(alice))?.devices).toHaveLength(2);
        expect(await blocks.between(carol, bob)).toEqual({
          recipientBlocksSender: true,
          senderBlocksRecipient: false,
        });
      },
      { timeout: 60_000, interval: 200 },
    );

    // alice's device 1 sends bob a message; bob's device 1 acks it; alice's devices get a receipt.
    const from = { accountId: alice, deviceId: 1 };
    await log.publish(topics.fanout, [
      eventRecord(
        fanoutEventCodec,
        messageAccepted({
          serverMessageId: messageId,
          from,
          to: bob,
          devices: [1, 2],
          ciphertext,
          at: after(2_000),
        }),
        { occurredAt: after(2_000), correlationId: 'send-request' },
      ),
      eventRecord(
        fanoutEventCodec,
        sentMessageSynced({
          serverMessageId: messageId,
          from,
          to: bob,
          devices: [2],
          ciphertext,
          at: after(2_000),
        }),
        { occurredAt: after(2_000), correlationId: 'send-request' },
      ),
    ]);
    await log.publish(topics.fanout, [
      eventRecord(fanoutEventCodec, inboxAcked(bob, 1, [messageId], after(3_000)), {
        occurredAt: after(3_000),
      }),
      eventRecord(
        fanoutEventCodec,
        receiptIssued({
          receiptId: randomUUID(),
          to: alice,
          toDevices: [1, 2],
          from: { accountId: bob, deviceId: 1 },
          serverMessageIds: [messageId],
          at: after(3_000),
        }),
        { occurredAt: after(3_000) },
      ),
    ]);
    // Presence's privacy read models, as its accounts and fanout consumers keep them.
    const presence = liveStore('presence');
    const privacy = new PresencePrivacy(
      presence.collection('last_seen_visibility'),
      presence.collection('contacts'),
      presence.collection('blocks'),
    );
    subscriptions.push(
      await log.subscribe({
        groupId: serviceGroup(connection, 'fanout', 'inboxes'),
        topics: [topics.fanout],
        onBatch: (batch) => inboxes.applyBatch(batch),
      }),
      await consumeEvents(log, {
        groupId: serviceGroup(connection, 'presence', 'accounts-events'),
        topic: topics.accounts,
        codec: accountEventCodec,
        handle: async (received) => {
          await privacy.apply(received);
        },
      }),
      await consumeEvents(log, {
        groupId: serviceGroup(connection, 'presence', 'fanout-events'),
        topic: topics.fanout,
        codec: fanoutEventCodec,
        handle: async ({ event }) => {
          if (event.$case === 'messageAccepted') {
            await privacy.learnContacts([[event.value.senderAccountId, event.value.accountId]]);
          }
        },
      }),
    );
    await vi.waitFor(
      async () => {
        const bobInboxes = (await inboxTiers.head(bob))?.inboxes ?? [];
        const aliceInboxes = (await inboxTiers.head(alice))?.inboxes ?? [];
        expect(bobInboxes.find((inbox) => inbox.deviceId === 1)?.lastSequence).toBe(1);
        expect(bobInboxes.find((inbox) => inbox.deviceId === 1)?.pending).toEqual([]);
        expect(aliceInboxes.find((inbox) => inbox.deviceId === 1)?.pending).toHaveLength(1);
        expect(await presence.collection<ContactDocument>('contacts').find({})).toHaveLength(1);
        expect(await presence.collection('blocks').find({})).toHaveLength(1);
      },
      { timeout: 60_000, interval: 200 },
    );
    for (const subscription of subscriptions.splice(0)) await subscription.stop();
  });

  afterAll(async () => {
    for (const subscription of subscriptions) await subscription.stop();
    await stores?.close();
    await source?.close();
    await log?.close();
    for (const name of [
      ...scratchDatabases,
      `${databasePrefix}_accounts`,
      `${databasePrefix}_fanout`,
      `${databasePrefix}_presence`,
    ]) {
      await client?.db(name).dropDatabase();
    }
    await client?.close();
  });

  const read = async (options: ReadEventsOptions) => {
    const io = capturedIO();
    expect(await readEvents(options, connection, source, io)).toBe(0);
    return io.lines.map((line) => JSON.parse(line) as EventJson & { payload: Record<string, unknown> });
  };

  describe('tandem events read', () => {
    it("reads a service's topic from the beginning, each event a JSON line", async () => {
      const events = await read({ topic: 'accounts' });

      expect(events).toHaveLength(4);
      expect(events.map((event) => event.type).sort()).toEqual([
        'AccountBlocked',
        'AccountRegistered',
        'AccountRegistered',
        'ProfileUpdated',
      ]);
      expect(events[0]).toMatchObject({
        topic: topics.accounts,
        payloadType: 'tandem.accounts.v1.AccountEvent',
      });
    });

    it('filters by account, type, correlation id and device', async () => {
      expect((await read({ topic: 'accounts', account: alice })).map((event) => event.type)).toEqual([
        'AccountRegistered',
        'ProfileUpdated',
      ]);
      expect(await read({ topic: topics.accounts, types: ['profileUpdated'] })).toMatchObject([
        { key: alice, payload: { accountId: alice, displayName: 'Ada' } },
      ]);
      expect(await read({ topic: 'accounts', correlation: 'profile-request' })).toHaveLength(1);
      expect((await read({ topic: 'fanout', account: bob, device: 2 })).map((event) => event.type)).toEqual([
        'MessageAccepted',
      ]);
      expect((await read({ topic: 'fanout', account: alice, device: 2 })).map((event) => event.type)).toEqual(
        ['SentMessageSynced'],
      );
    });

    it('leaves ciphertext as base64', async () => {
      const [accepted] = await read({ topic: 'fanout', types: ['MessageAccepted'] });

      expect(accepted!.payload['envelopes']).toEqual([
        expect.objectContaining({ deviceId: 1, content: ciphertext.toString('base64') }),
        expect.objectContaining({ deviceId: 2, content: ciphertext.toString('base64') }),
      ]);
    });

    it('starts at an offset of a partition, or at a time', async () => {
      const [first] = await read({ topic: 'accounts', account: alice });
      const fromSecond = await read({
        topic: 'accounts',
        offset: `${first!.partition}:${Number(first!.offset) + 1}`,
      });

      expect(fromSecond.every((event) => event.partition === first!.partition)).toBe(true);
      expect(fromSecond.some((event) => event.type === 'ProfileUpdated')).toBe(true);
      const since = await read({ topic: 'accounts', since: after(500).toISOString() });
      expect(since.map((event) => event.type).sort()).toEqual(['AccountBlocked', 'ProfileUpdated']);
      expect(await read({ topic: 'accounts', since: '0s' })).toEqual([]);
    });

    it('counts only, and stops at a limit', async () => {
      const io = capturedIO();
      await readEvents({ topic: 'linking', countOnly: true }, connection, source, io);
      expect(io.lines).toEqual(['4']);
      expect(await read({ topic: 'linking', limit: 2 })).toHaveLength(2);
    });
  });

  describe('tandem events summary', () => {
    it("counts the topic's events by type and shows each group's lag", async () => {
      const io = capturedIO();
      await showSummary({ topic: 'accounts', json: true }, connection, source, io);
      const summary = JSON.parse(io.lines.join('\n')) as {
        events: number;
        types: Record<string, number>;
        groups: { groupId: string; totalLag: string; members: number }[];
      };

      expect(summary.events).toBe(4);
      expect(summary.types).toEqual({ AccountBlocked: 1, AccountRegistered: 2, ProfileUpdated: 1 });
      expect([...summary.groups].sort((a, b) => a.groupId.localeCompare(b.groupId))).toEqual([
        expect.objectContaining({ groupId: `${topicPrefix}accounts.read-model`, totalLag: '0', members: 0 }),
        expect.objectContaining({
          groupId: `${topicPrefix}fanout.accounts-events`,
          totalLag: '0',
          members: 0,
        }),
        expect.objectContaining({
          groupId: `${topicPrefix}presence.accounts-events`,
          totalLag: '0',
          members: 0,
        }),
      ]);
    });
  });

  describe('tandem projections rebuild --diff', () => {
    it('finds the live accounts read model equal to its rebuild', async () => {
      const io = capturedIO();
      expect(
        await rebuildProjection(
          { projection: 'accounts', into: scratch(), diff: true },
          connection,
          source,
          stores,
          io,
        ),
      ).toBe(0);
      expect(io.lines.at(-1)).toMatch(/^equal/);
    });

    it('ignores when the device directory applied its events, and says so', async () => {
      const io = capturedIO();
      const result = await rebuild(
        { projection: 'device-directory', service: 'fanout', into: scratch(), diff: true },
        connection,
        source,
        stores,
        io,
      );

      expect(result.differs).toBe(false);
      expect(result.counts.get('devices')).toBe(4);
      expect(
        io.lines.some((line) => line.startsWith('ignoring fields that legitimately differ: appliedAt')),
      ).toBe(true);
    });

    it("finds fan-out's device lists, blocks and inboxes and presence's privacy equal to their rebuilds", async () => {
      for (const projection of ['device-lists', 'blocks', 'inboxes', 'presence-privacy']) {
        const result = await rebuild(
          { projection, into: scratch(), diff: true },
          connection,
          source,
          stores,
          capturedIO(),
        );
        expect(result.differs, projection).toBe(false);
      }
    });

    it('finds a difference planted in the live read model, and exits 1', async () => {
      const accounts = liveStore('accounts').collection<AccountRecord>('accounts');
      const live = (await accounts.get(alice))!;
      await accounts.put({ ...live, displayName: 'Mallory' });
      const io = capturedIO();

      const code = await rebuildProjection(
        { projection: 'accounts', into: scratch(), diff: true },
        connection,
        source,
        stores,
        io,
      );

      expect(code).toBe(1);
      expect(io.lines).toContain(`  changed: ${alice}`);
      expect(io.lines).toContain('    displayName: live "Mallory", rebuilt "Ada"');
      expect(io.lines.at(-1)).toMatch(/^differs/);
      await accounts.put(live);
    });
  });

  describe('tandem trace', () => {
    it("shows the message's life in time order, with the inbox entries it left", async () => {
      const io = capturedIO();
      const code = await traceMessage(
        { serverMessageId: messageId, json: true },
        connection,
        source,
        () => stores.live('fanout'),
        io,
      );

      expect(code).toBe(0);
      const items = io.lines.map((line) => JSON.parse(line) as TraceItem);
      const steps = items.map((item) =>
        item.kind === 'event'
          ? item.event.type
          : `entry ${item.accountId === bob ? 'bob' : 'alice'}/${item.deviceId}#${item.sequence}`,
      );
      expect(steps).toEqual([
        'MessageAccepted',
        'SentMessageSynced',
        'entry alice/2#1',
        'entry bob/2#1',
        'InboxAcked',
        'ReceiptIssued',
      ]);
      expect(
        items
          .filter((item) => item.kind === 'inbox-entry')
          .every((item) => item.kind === 'inbox-entry' && item.stored),
      ).toBe(true);
    });

    it('exits 1 for a message no event names', async () => {
      const io = capturedIO();
      expect(await traceMessage({ serverMessageId: randomUUID() }, connection, source, undefined, io)).toBe(
        1,
      );
      expect(io.errors[0]).toMatch(/no event/);
    });
  });

  describe('tandem consumers reset', () => {
    it("prints a group's offsets before and after; the dry run changes nothing, the reset moves them", async () => {
      const group = serviceGroup(connection, 'accounts', 'read-model');
      const dry = capturedIO();
      expect(
        await resetConsumerGroup(
          { group, topic: 'accounts', toEarliest: true, dryRun: true },
          connection,
          source,
          dry,
        ),
      ).toBe(0);
      expect(dry.lines.at(-1)).toBe('dry run: nothing changed');
      const before = (await source.groups(topics.accounts)).find((candidate) => candidate.groupId === group)!;
      expect([...before.committed.values()].reduce((sum, offset) => sum + offset, 0n)).toBe(4n);

      const io = capturedIO();
      expect(
        await resetConsumerGroup({ group, topic: 'accounts', toEarliest: true }, connection, source, io),
      ).toBe(0);
      const reset = (await source.groups(topics.accounts)).find((candidate) => candidate.groupId === group)!;
      expect([...reset.committed.values()].every((offset) => offset === 0n)).toBe(true);
    });

    it('refuses while the group has active members', async () => {
      const group = uniqueName('busy');
      const subscription = await log.subscribe({
        groupId: group,
        topics: [topics.accounts],
        onBatch: async () => {},
      });
      try {
        const io = capturedIO();
        await vi.waitFor(async () => expect((await source.describeGroup(group)).members).toHaveLength(1), {
          timeout: 30_000,
        });
        expect(
          await resetConsumerGroup({ group, topic: 'accounts', toLatest: true }, connection, source, io),
        ).toBe(1);
        expect(io.errors[0]).toMatch(/has 1 active member \(/);
      } finally {
        await subscription.stop();
      }
    });
  });
});
