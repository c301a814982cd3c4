import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventStore, type EventStore, MongoEventStore, type NewEvent } from '@tandem/event-sourcing';
import { MongoClient } from 'mongodb';
import { measure, report } from './measure';

const payload = new Uint8Array(200).fill(1);

function event(streamId: string): NewEvent {
  return {
    eventId: randomUUID(),
    type: 'BenchmarkEvent',
    partitionKey: streamId,
    occurredAt: new Date(),
    correlationId: randomUUID(),
    causationId: randomUUID(),
    traceparent: '',
    tracestate: '',
    payload,
  };
}

async function appendThroughput(name: string, store: EventStore, count: number): Promise<void> {
  report(
    `event store append, new streams (${name})`,
    await measure(count, 16, (index) =>
      store.appendToStream(`bench-${index}-${randomUUID()}`, 0, [event('a')]),
    ),
  );
  const streams = Array.from({ length: 16 }, () => ({ id: `bench-${randomUUID()}`, version: 0 }));
  report(
    `event store append, 16 growing streams (${name})`,
    await measure(count, 16, async (_, worker) => {
      const stream = streams[worker]!;
      stream.version = await store.appendToStream(stream.id, stream.version, [event(stream.id)]);
    }),
  );
}

/** Event store append throughput, embedded and (when MONGODB_URI is set) on MongoDB. */
export async function benchEventStores(mongoUri: string | undefined): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-bench-store-'));
  const embedded = new EmbeddedEventStore({ dataDir, name: 'bench' });
  await appendThroughput('embedded', embedded, 5_000);
  await embedded.close();
  rmSync(dataDir, { recursive: true, force: true });

  if (!mongoUri) return;
  const client = await MongoClient.connect(mongoUri);
  const db = client.db(`bench_${randomUUID().slice(0, 8)}`);
  await appendThroughput('MongoDB protocol', await MongoEventStore.open(db), 1_000);
  await db.dropDatabase();
  await client.close();
}
