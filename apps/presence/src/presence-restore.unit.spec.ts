import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PresenceChanged } from '@tandem/contracts/tandem/presence/v1/events';
import { EmbeddedEventLog, partitionForKey, type TopicSpec } from '@tandem/messaging';
import { createLogger } from '@tandem/observability';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventRecord, presenceEventCodec } from './presence.codecs';
import { PresenceBook } from './presence-book';
import { markerKey, restoreWorker } from './presence-restore';

const t0 = new Date('2026-11-25T12:00:00.000Z');
const minute = 60_000;
const topic: TopicSpec = { name: 'tandem.presence.events', partitions: 3, compacted: true };

const changed = (accountId: string, online: boolean): PresenceChanged => ({
  accountId,
  online,
  lastSeen: online ? undefined : t0,
  devices: online
    ? [{ deviceId: 1, inboxStreams: [{ instanceId: 'f1', connectedAt: t0 }], heartbeat: undefined }]
    : [],
  changedAt: t0,
});

describe('restoring presence from the compacted topic', () => {
  let dataDir: string;
  let log: EmbeddedEventLog;

  const restore = async (instanceId: string) => {
    const book = new PresenceBook(
      async () => undefined,
      () => t0,
      {
        heartbeatTimeoutMs: minute,
        instanceGraceMs: minute,
        forgetInstancesAfterMs: 10 * minute,
      },
    );
    const worker = restoreWorker({
      log,
      topic,
      groupId: `presence.restore.${instanceId}`,
      instanceId,
      book,
      logger: createLogger('presence', 'silent'),
      clock: () => t0,
      timeoutMs: 10_000,
    });
    await worker.start();
    await worker.stop();
    return book;
  };

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-presence-'));
    log = new EmbeddedEventLog({ dataDir });
    await log.ensureTopics([topic]);
  });

  afterEach(async () => {
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('finds a key for each partition', () => {
    for (let partition = 0; partition < 6; partition++) {
      expect(partitionForKey(markerKey(partition, 6), 6)).toBe(partition);
    }
  });

  describe('given records of several accounts, some written twice', () => {
    beforeEach(async () => {
      const records = [
        [changed('alice', true), 1],
        [changed('bob', true), 1],
        [changed('carol', false), 1],
        [changed('bob', false), 2],
      ] as const;
      await log.publish(
        topic.name,
        records.map(([record, version]) =>
          eventRecord(
            presenceEventCodec,
            { $case: 'presenceChanged', value: record },
            { aggregateId: record.accountId, version, occurredAt: t0 },
          ),
        ),
      );
    });

    it('resolves its start only after reading every record written before it, the newest counting', async () => {
      const book = await restore('instance-1');
      expect(book.presenceOf('alice').online).toBe(true);
      expect(book.presenceOf('bob')).toEqual({ accountId: 'bob', online: false, lastSeen: t0, devices: [] });
      expect(book.presenceOf('carol')).toMatchObject({ online: false, lastSeen: t0 });
      expect(book.size).toEqual({ accounts: 3, active: 1 });
    });

    it('restores the same again on the next start, passing over the markers of earlier ones', async () => {
      await restore('instance-1');
      const book = await restore('instance-2');
      expect(book.size).toEqual({ accounts: 3, active: 1 });
    });
  });

  it('starts at once on an empty topic', async () => {
    expect((await restore('instance-1')).size).toEqual({ accounts: 0, active: 0 });
  });
});
