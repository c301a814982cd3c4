import { randomUUID } from 'node:crypto';
import { type EventStore, MongoEventStore, type NewEvent } from '@tandem/event-sourcing';
import {
  explainFilters,
  type MongoOperation,
  operationsNotByKey,
  recordMongoOperations,
  testInfrastructure,
  uniqueName,
} from '@tandem/testing';
import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountCommands } from './accounts.commands';

/**
 * Every MongoDB operation of an append, a command, a Register and a relay round is an insert or
 * an exact-`_id` operation, and their number does not change when the store holds many events:
 * the cost stays flat however large the store grows (the benchmark measures 1,000,000 events).
 */

/** Events stored before the second measurement: 2,000 streams of 10, in one commit each. */
const STREAMS = 2_000;
const EVENTS_PER_STREAM = 10;

const context = { correlationId: 'c', causationId: 'c' };

function event(streamId: string): NewEvent {
  return {
    eventId: randomUUID(),
    type: 'SomethingHappened',
    partitionKey: streamId,
    occurredAt: new Date(),
    correlationId: 'c',
    causationId: 'c',
    traceparent: '',
    tracestate: '',
    payload: new Uint8Array(200).fill(7),
  };
}

const registration = () => ({
  phoneNumber: `+4917${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`,
  identityKey: new Uint8Array(32).fill(3),
  registrationId: 7,
  deviceName: 'Pixel',
  reregister: false,
});

interface Measured {
  readonly name: string;
  readonly operations: MongoOperation[];
}

let client: MongoClient;
let db: Db;
let store: EventStore;
let commands: AccountCommands;

async function drainOutbox(): Promise<void> {
  for (;;) {
    const page = await store.readUnpublished(500);
    if (page.length === 0) return;
    await store.markPublished(page.map((commit) => commit.commitId));
  }
}

/** One of each: an append to a new stream, to a grown one, a command, a Register, a relay round. */
async function measureEach(): Promise<Measured[]> {
  const record = (run: () => Promise<unknown>) => recordMongoOperations(client, db.databaseName, run);
  const grown = `grown-${randomUUID()}`;
  let version = await store.appendToStream(grown, 0, [event(grown)]);
  for (let index = 0; index < 20; index++)
    version = await store.appendToStream(grown, version, [event(grown)]);
  const { accountId } = await commands.register(registration(), context);
  await drainOutbox();
  const measured: Measured[] = [
    {
      name: 'append to a new stream',
      operations: await record(() => store.appendToStream(`new-${randomUUID()}`, 0, [event('new')])),
    },
    {
      name: 'append to a stream of 21 events',
      operations: await record(() => store.appendToStream(grown, version, [event(grown)])),
    },
    {
      name: 'command (UpdateProfile)',
      operations: await record(() =>
        commands.accounts.handle(
          accountId,
          { type: 'UpdateProfile', byDeviceId: 1, displayName: 'Ada', about: '', avatarRef: '' },
          context,
        ),
      ),
    },
    { name: 'Register', operations: await record(() => commands.register(registration(), context)) },
  ];
  measured.push({
    name: 'relay round',
    operations: await record(async () => {
      const page = await store.readUnpublished(500);
      await store.markPublished(page.map((commit) => commit.commitId));
    }),
  });
  return measured;
}

beforeAll(async () => {
  client = await MongoClient.connect(testInfrastructure().mongoUri, { monitorCommands: true });
  db = client.db(uniqueName('by_key'));
  store = await MongoEventStore.open(db);
  commands = new AccountCommands(store, () => undefined);
});

afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

describe('the accounts event store on the MongoDB-protocol server', () => {
  let empty: Measured[];
  let full: Measured[];

  beforeAll(async () => {
    empty = await measureEach();
    for (let first = 0; first < STREAMS; first += 200) {
      await Promise.all(
        Array.from({ length: 200 }, (_, index) => {
          const streamId = `filler-${first + index}`;
          return store.appendToStream(
            streamId,
            0,
            Array.from({ length: EVENTS_PER_STREAM }, () => event(streamId)),
          );
        }),
      );
    }
    await drainOutbox();
    full = await measureEach();
  }, 300_000);

  it('issues only inserts and exact-_id operations, which the server answers by key', async () => {
    const all = [...empty, ...full].flatMap((measured) => measured.operations);
    expect(operationsNotByKey(all)).toEqual([]);
    const plans = await explainFilters(db, all);
    expect(plans.notPushedDown).toEqual([]);
    // On FerretDB's PostgreSQL backend (infra's default) the plans show an index serving each one.
    if (plans.server === 'ferretdb-postgresql') expect(plans.scanned).toEqual([]);
  });

  it(`issues as many operations with ${STREAMS * EVENTS_PER_STREAM} more events stored as with none`, () => {
    const counts = (measured: Measured[]) =>
      Object.fromEntries(measured.map(({ name, operations }) => [name, operations.length]));
    for (const { name, operations } of full) {
      const before = counts(empty)[name]!;
      expect(before, name).toBeGreaterThan(0);
      expect(operations.length / before, name).toBeLessThanOrEqual(1.2);
    }
    expect(counts(full)).toEqual(counts(empty));
  });

  it('reads a stream it holds with one look-up past the end, one it does not with one per commit more', async () => {
    const command = full.find((measured) => measured.name === 'command (UpdateProfile)')!;
    expect(command.operations.filter((operation) => operation.name === 'find')).toHaveLength(1);
    const cold = await MongoEventStore.open(db);
    const reads = await recordMongoOperations(client, db.databaseName, () => cold.readStream('filler-1'));
    expect(reads.map((operation) => operation.name)).toEqual(['find', 'find']);
  });
});
