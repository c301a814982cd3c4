import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountEventCodec, type AccountRecord, AccountsReadModel } from '@tandem/accounts-service';
import { EmbeddedDocumentStore } from '@tandem/documents';
import { consumeEvents } from '@tandem/event-sourcing';
import { EmbeddedEventLog, type Subscription } from '@tandem/messaging';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Connection, resolveConnection } from './connection';
import { EmbeddedLogSource } from './log-source.embedded';
import { openReadModelStores, type ReadModelStores } from './read-model-stores';
import { readEvents } from './read.command';
import { rebuild } from './rebuild.command';
import { accountRegistered, capturedIO, eventRecord, profileUpdated } from './replay-fixtures';

/** The replay commands on the embedded log and stores of a data folder, as `npm start` leaves them. */
describe('replaying the embedded log of a data folder', () => {
  let dataDir: string;
  let log: EmbeddedEventLog;
  let liveStore: EmbeddedDocumentStore;
  let connection: Connection;
  let source: EmbeddedLogSource;
  let stores: ReadModelStores;
  /** The live read model's consumer, as the accounts service runs it. */
  let subscription: Subscription;
  const at = new Date('2026-11-28T10:00:00Z');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-replay-'));
    log = new EmbeddedEventLog({ dataDir });
    await log.ensureTopics([{ name: 'tandem.accounts.events', partitions: 3 }]);
    await log.publish('tandem.accounts.events', [
      eventRecord(accountEventCodec, accountRegistered('alice', '+4915100000001'), { occurredAt: at }),
      eventRecord(accountEventCodec, accountRegistered('bob', '+4915100000002'), { occurredAt: at }),
      eventRecord(accountEventCodec, profileUpdated('alice', 'Ada'), {
        occurredAt: new Date(at.getTime() + 1_000),
        version: 2,
        correlationId: 'update-1',
      }),
    ]);
    liveStore = new EmbeddedDocumentStore({ dataDir, name: 'accounts' });
    const model = new AccountsReadModel(
      liveStore.collection('accounts'),
      liveStore.collection('phone_numbers'),
    );
    subscription = await consumeEvents(log, {
      groupId: 'accounts.read-model',
      topic: 'tandem.accounts.events',
      codec: accountEventCodec,
      handle: (received) => model.apply(received),
    });
    await vi.waitFor(async () => expect((await model.byId('alice'))?.displayName).toBe('Ada'));

    connection = resolveConnection({ dataDir }, {});
    source = new EmbeddedLogSource(dataDir);
    stores = openReadModelStores(connection);
  });

  afterAll(async () => {
    await subscription.stop();
    await stores.close();
    await source.close();
    await liveStore.close();
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("reads a service's topic with filters, read-only", async () => {
    const io = capturedIO();
    expect(await readEvents({ topic: 'accounts', account: 'alice' }, connection, source, io)).toBe(0);

    const events = io.lines.map(
      (line) => JSON.parse(line) as { type: string; payload: { accountId: string } },
    );
    expect(events.map((event) => event.type)).toEqual(['AccountRegistered', 'ProfileUpdated']);
    expect(events.every((event) => event.payload.accountId === 'alice')).toBe(true);

    const counted = capturedIO();
    await readEvents(
      { topic: 'accounts', types: ['profileUpdated'], countOnly: true },
      connection,
      source,
      counted,
    );
    expect(counted.lines).toEqual(['1']);
  });

  it('follows the topic until stopped', async () => {
    const io = capturedIO();
    const stop = new AbortController();
    const reading = readEvents(
      { topic: 'accounts', follow: true, since: '2026-11-28T10:00:01Z' },
      connection,
      source,
      io,
      stop.signal,
    );
    await vi.waitFor(() => expect(io.lines).toHaveLength(1));

    await log.publish('tandem.accounts.events', [
      eventRecord(accountEventCodec, profileUpdated('bob', 'Bob'), { occurredAt: new Date(), version: 2 }),
    ]);
    await vi.waitFor(() => expect(io.lines).toHaveLength(2), { timeout: 3_000 });
    stop.abort();

    expect(await reading).toBe(0);
    expect(JSON.parse(io.lines[1]!)).toMatchObject({
      type: 'ProfileUpdated',
      payload: { displayName: 'Bob' },
    });
  });

  it('rebuilds the accounts read model into a scratch folder and finds it equal to the live one', async () => {
    await vi.waitFor(async () =>
      expect((await liveStore.collection<AccountRecord>('accounts').get('bob'))?.displayName).toBe('Bob'),
    );
    const io = capturedIO();
    const result = await rebuild(
      { projection: 'accounts', into: join(dataDir, 'scratch'), diff: true },
      connection,
      source,
      stores,
      io,
    );

    expect(result.differs).toBe(false);
    expect(result.counts.get('accounts')).toBe(2);
    expect(io.lines.at(-1)).toMatch(/^equal/);
  });

  it('finds a difference planted in the live read model', async () => {
    const alice = (await liveStore.collection<AccountRecord>('accounts').get('alice'))!;
    await liveStore.collection<AccountRecord>('accounts').put({ ...alice, displayName: 'Mallory' });
    const io = capturedIO();

    const result = await rebuild(
      { projection: 'accounts', into: join(dataDir, 'scratch'), diff: true, replace: true },
      connection,
      source,
      stores,
      io,
    );

    expect(result.differs).toBe(true);
    expect(result.diffs![0]!.changed).toEqual([
      { id: 'alice', fields: [{ path: 'displayName', live: 'Mallory', rebuilt: 'Ada' }] },
    ]);
    expect(io.lines).toContain('    displayName: live "Mallory", rebuilt "Ada"');
  });

  it('refuses to rebuild into the live folder, or over a rebuild without --replace', async () => {
    await expect(
      rebuild({ projection: 'accounts', into: dataDir }, connection, source, stores, capturedIO()),
    ).rejects.toThrow(/live data folder/);
    await expect(
      rebuild(
        { projection: 'accounts', into: join(dataDir, 'scratch') },
        connection,
        source,
        stores,
        capturedIO(),
      ),
    ).rejects.toThrow(/--replace/);
  });
});
