import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aRecord, valueOf } from './event-log.contract';
import { EmbeddedEventLog } from './event-log.embedded';
import { EmbeddedEventLogReader } from './event-log-reader.embedded';
import { partitionForKey } from './partitioner';

const topic = 'tandem.test.events';

describe('the read-only reader of the embedded event log', () => {
  let dataDir: string;
  let log: EmbeddedEventLog;
  let reader: EmbeddedEventLogReader;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-event-log-reader-'));
    log = new EmbeddedEventLog({ dataDir });
    await log.ensureTopics([
      { name: topic, partitions: 3 },
      { name: 'tandem.other.events', partitions: 1 },
    ]);
    await log.publish(
      topic,
      Array.from({ length: 9 }, (_, index) =>
        aRecord('account-1', `r${index}`, { timestamp: 1_000 + index }),
      ),
    );
    reader = EmbeddedEventLogReader.open(dataDir);
  });

  afterEach(async () => {
    reader.close();
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const partition = partitionForKey('account-1', 3);

  it('lists the topics with their partitions', () => {
    expect(reader.topics()).toEqual([
      { name: 'tandem.other.events', partitions: 1 },
      { name: topic, partitions: 3 },
    ]);
  });

  it('gives each partition its first offset and its end', () => {
    const watermarks = reader.watermarks(topic);

    expect(watermarks).toHaveLength(3);
    expect(watermarks[partition]).toEqual({ partition, low: 0, high: 9 });
    for (const other of watermarks.filter((entry) => entry.partition !== partition))
      expect(other).toMatchObject({ low: 0, high: 0 });
  });

  it('reads a range of one partition in offset order, page by page', () => {
    const page = reader.read(topic, partition, { fromOffset: 2, toOffset: 6, limit: 3 });
    const rest = reader.read(topic, partition, { fromOffset: 5, toOffset: 6, limit: 3 });

    expect(page.map(valueOf)).toEqual(['r2', 'r3', 'r4']);
    expect(page.map((record) => record.offset)).toEqual(['2', '3', '4']);
    expect(rest.map(valueOf)).toEqual(['r5']);
  });

  it('finds the first offset at or after a time, and the end when there is none', () => {
    expect(reader.offsetForTimestamp(topic, partition, 1_004)).toBe(4);
    expect(reader.offsetForTimestamp(topic, partition, 0)).toBe(0);
    expect(reader.offsetForTimestamp(topic, partition, 5_000)).toBe(9);
  });

  it("shows the consumer groups' committed offsets", async () => {
    const subscription = await log.subscribe({
      groupId: 'projection',
      topics: [topic],
      onBatch: async () => {},
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await subscription.stop();

    expect(reader.committedOffsets(topic)).toContainEqual({
      groupId: 'projection',
      partition,
      nextOffset: 9,
    });
  });

  it('sees what is published after it was opened', async () => {
    await log.publish(topic, [aRecord('account-1', 'late')]);

    expect(reader.read(topic, partition, { fromOffset: 9, limit: 10 }).map(valueOf)).toEqual(['late']);
  });

  it('refuses a topic the log does not have, and a folder without a log', async () => {
    expect(() => reader.watermarks('tandem.nothing.events')).toThrow(/unknown topic/);
    expect(() => EmbeddedEventLogReader.open(join(dataDir, 'elsewhere'))).toThrow(/no embedded event log/);
  });
});
