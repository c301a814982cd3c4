import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
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

/** Appends `events` events to the store: commits of 10 events to new streams, 200 at a time. */
async function fill(store: EventStore, events: number): Promise<void> {
  const commits = Math.ceil(events / 10);
  for (let first = 0; first < commits; first += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, commits - first) }, (_, index) => {
        const streamId = `filler-${first + index}`;
        return store.appendToStream(
          streamId,
          0,
          Array.from({ length: 10 }, () => event(streamId)),
        );
      }),
    );
  }
  // As the relay would: the outbox is drained, so later rounds read only what is new.
  for (
    let page = await store.readUnpublished(2_000);
    page.length > 0;
    page = await store.readUnpublished(2_000)
  )
    await store.markPublished(page.map((commit) => commit.commitId));
}

/**
 * Event store append throughput, embedded and (when MONGODB_URI is set) on MongoDB: on an empty
 * store, then again once the store holds TANDEM_BENCH_STORED_EVENTS events (default 1,000,000;
 * 0 skips it), which must not slow appends down.
 */
export async function benchEventStores(mongoUri: string | undefined): Promise<void> {
  const stored = Number(process.env['TANDEM_BENCH_STORED_EVENTS'] ?? 1_000_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-bench-store-'));
  const embedded = new EmbeddedEventStore({ dataDir, name: 'bench' });
  await appendThroughput('embedded', embedded, 5_000);
  await embedded.close();
  rmSync(dataDir, { recursive: true, force: true });

  if (!mongoUri) return;
  const client = await MongoClient.connect(mongoUri);
  const db = client.db(`bench_${randomUUID().slice(0, 8)}`);
  const store = await MongoEventStore.open(db);
  await appendThroughput('MongoDB protocol, empty', store, 2_000);
  if (stored > 0) {
    const started = performance.now();
    await fill(store, stored);
    console.log(
      `${`stored ${stored} events (MongoDB protocol)`.padEnd(48)}  in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    await appendThroughput(
      `MongoDB protocol, ${stored} events stored`,
      await MongoEventStore.open(db),
      2_000,
    );
  }
  await db.dropDatabase();
  await client.close();
}
