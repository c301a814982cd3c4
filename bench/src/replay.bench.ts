/**
 * Replay: how fast `tandem events read --count-only` goes through a topic of many events, from
 * Kafka and from the embedded log, as an engineer runs it (the built CLI as a process, wall
 * time including its start). TANDEM_BENCH_REPLAY_EVENTS sets how many (default 1,000,000).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { toRecord } from '@tandem/event-sourcing';
import { EmbeddedEventLog, type EventLog, KafkaEventLog, type OutgoingRecord } from '@tandem/messaging';

const run = promisify(execFile);
const CLI = resolve(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');
const PARTITIONS = 6;
const PUBLISH_BATCH = 5_000;

/** A ProfileUpdated of one of 1,000 accounts, as the accounts relay publishes it. */
function profileUpdated(index: number): OutgoingRecord {
  const accountId = `bench-account-${index % 1_000}`;
  const payload = AccountEvent.encode({
    event: {
      $case: 'profileUpdated',
      value: { accountId, displayName: `Name ${index}`, about: 'replay bench', avatarRef: '', byDeviceId: 1 },
    },
  }).finish();
  return toRecord(
    {
      eventId: randomUUID(),
      type: 'ProfileUpdated',
      partitionKey: accountId,
      occurredAt: new Date(),
      correlationId: randomUUID(),
      causationId: '',
      traceparent: '',
      tracestate: '',
      payload,
      streamId: accountId,
      version: index + 1,
    },
    'tandem.accounts.v1.AccountEvent',
  );
}

async function fill(log: EventLog, topic: string, count: number): Promise<number> {
  await log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  const started = performance.now();
  for (let first = 0; first < count; first += PUBLISH_BATCH) {
    const size = Math.min(PUBLISH_BATCH, count - first);
    await log.publish(
      topic,
      Array.from({ length: size }, (_, index) => profileUpdated(first + index)),
    );
  }
  return (performance.now() - started) / 1000;
}

/** Runs the CLI's count-only read; returns the count it printed and the wall time. */
async function countWithCli(args: readonly string[]): Promise<{ count: number; seconds: number }> {
  const started = performance.now();
  const { stdout } = await run(
    process.execPath,
    [CLI, 'events', 'read', 'accounts', '--count-only', ...args],
    {
      maxBuffer: 1 << 20,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  return { count: Number.parseInt(stdout.trim().split(/\s+/)[0] ?? '', 10), seconds };
}

function report(name: string, count: number, filled: number, read: { count: number; seconds: number }): void {
  const ok = read.count === count ? '' : ` (counted ${read.count} of ${count}!)`;
  console.log(
    `${`replay ${count.toLocaleString('en')} events (${name})`.padEnd(48)}  ` +
      `${Math.round(count / read.seconds).toLocaleString('en')} events/s read, ${read.seconds.toFixed(1)} s ` +
      `with the CLI's start; written in ${filled.toFixed(1)} s${ok}`,
  );
}

export async function benchReplay(kafkaBrokers: string | undefined): Promise<void> {
  const count = Number.parseInt(process.env['TANDEM_BENCH_REPLAY_EVENTS'] ?? '1000000', 10);
  const prefix = `bench_replay_${randomUUID().slice(0, 8)}.`;
  const topic = `${prefix}tandem.accounts.events`;

  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-bench-replay-'));
  try {
    const embedded = new EmbeddedEventLog({ dataDir });
    const filled = await fill(embedded, topic, count);
    await embedded.close();
    report(
      'embedded log',
      count,
      filled,
      await countWithCli(['--data-dir', dataDir, '--topic-prefix', prefix]),
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }

  if (!kafkaBrokers) return;
  const kafka = new KafkaEventLog({ brokers: kafkaBrokers.split(','), clientId: 'tandem-bench-replay' });
  try {
    const filled = await fill(kafka, topic, count);
    report('Kafka', count, filled, await countWithCli(['--brokers', kafkaBrokers, '--topic-prefix', prefix]));
  } finally {
    await kafka.close();
  }
}
