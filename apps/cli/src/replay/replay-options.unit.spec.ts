import { describe, expect, it } from 'vitest';
import { resolveConnection, UsageError } from './connection';
import { topicName } from './services';
import { newOffsets, resetTarget } from './consumers-reset.command';
import { decodeRecord } from './event-json';
import { formatDuration, formatProgress } from './progress';
import { eventRecord, inboxAcked } from './replay-fixtures';
import { groupLag } from './summary.command';
import { inTimeOrder, namesMessage, type TraceItem } from './trace.command';
import { fanoutEventCodec } from '@tandem/fanout-service';

describe('where the replay commands find the log', () => {
  it('uses Kafka when --brokers or KAFKA_BROKERS says so, with the MongoDB of MONGODB_URI', () => {
    expect(resolveConnection({}, { KAFKA_BROKERS: 'k1:9092, k2:9092', MONGODB_URI: 'mongodb://m' })).toEqual({
      mode: 'distributed',
      brokers: ['k1:9092', 'k2:9092'],
      security: { tls: undefined, sasl: undefined },
      mongoUri: 'mongodb://m',
      databasePrefix: 'tandem',
      topicPrefix: '',
    });
    expect(
      resolveConnection({ brokers: 'k:1', mongo: 'mongodb://x', databasePrefix: 'p' }, {}),
    ).toMatchObject({
      brokers: ['k:1'],
      mongoUri: 'mongodb://x',
      databasePrefix: 'p',
    });
  });

  it("takes Kafka's TLS and SASL settings from the environment, as the services do", () => {
    const env = {
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'tandem',
      KAFKA_SASL_PASSWORD: 'secret',
    };
    expect(resolveConnection({ brokers: 'k:9094' }, env)).toMatchObject({
      mode: 'distributed',
      security: {
        tls: { ca: undefined, clientCertificate: undefined },
        sasl: { mechanism: 'scram-sha-512', username: 'tandem', password: 'secret' },
      },
    });
    expect(() => resolveConnection({ brokers: 'k:9094' }, { KAFKA_SASL_USERNAME: 'tandem' })).toThrow(
      'KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not',
    );
  });

  it('uses the embedded log of --data-dir, even when KAFKA_BROKERS is set, else of TANDEM_DATA_DIR', () => {
    expect(resolveConnection({ dataDir: '/d' }, { KAFKA_BROKERS: 'k:1' })).toEqual({
      mode: 'embedded',
      dataDir: '/d',
      topicPrefix: '',
    });
    expect(resolveConnection({}, { TANDEM_DATA_DIR: '/e', TANDEM_TOPIC_PREFIX: 'staging.' })).toEqual({
      mode: 'embedded',
      dataDir: '/e',
      topicPrefix: 'staging.',
    });
    expect(() => resolveConnection({ dataDir: '/d', brokers: 'k:1' }, {})).toThrow(UsageError);
  });

  it("names a service's topic with the installation's prefix, and takes other names as they are", () => {
    const connection = resolveConnection({ dataDir: '/d', topicPrefix: 'staging.' }, {});
    expect(topicName(connection, 'fanout')).toBe('staging.tandem.fanout.events');
    expect(topicName(connection, 'staging.tandem.fanout.signals')).toBe('staging.tandem.fanout.signals');
  });
});

describe("a consumer group's lag", () => {
  it('counts from the committed offset, or from the first record where it committed nothing', () => {
    const lag = groupLag(
      [
        { partition: 0, low: 0n, high: 10n },
        { partition: 1, low: 4n, high: 9n },
      ],
      { groupId: 'fanout.inboxes', committed: new Map([[0, 7n]]), members: 1 },
    );
    expect(lag.partitions).toEqual([
      { partition: 0, committed: 7n, high: 10n, lag: 3n },
      { partition: 1, committed: undefined, high: 9n, lag: 5n },
    ]);
    expect(lag.totalLag).toBe(8n);
  });
});

describe('resetting a consumer group', () => {
  const ranges = [
    { partition: 0, low: 2n, high: 10n },
    { partition: 1, low: 0n, high: 5n },
  ];

  it('needs exactly one target', () => {
    expect(() => resetTarget({ group: 'g', topic: 't' })).toThrow(/exactly one/);
    expect(() => resetTarget({ group: 'g', topic: 't', toEarliest: true, toOffset: '1' })).toThrow(
      /exactly one/,
    );
  });

  it('moves every partition to its first record, its end, an offset or a time, within what it holds', () => {
    expect(newOffsets(ranges, { kind: 'earliest' })).toEqual(
      new Map([
        [0, 2n],
        [1, 0n],
      ]),
    );
    expect(newOffsets(ranges, { kind: 'latest' })).toEqual(
      new Map([
        [0, 10n],
        [1, 5n],
      ]),
    );
    expect(newOffsets(ranges, resetTarget({ group: 'g', topic: 't', toOffset: '7' }))).toEqual(
      new Map([
        [0, 7n],
        [1, 5n],
      ]),
    );
    expect(newOffsets(ranges, resetTarget({ group: 'g', topic: 't', toOffset: '1:3' }))).toEqual(
      new Map([[1, 3n]]),
    );
    expect(newOffsets(ranges, { kind: 'time', timestamp: 0 }, new Map([[0, 4n]]))).toEqual(
      new Map([
        [0, 4n],
        [1, 5n],
      ]),
    );
  });
});

describe('progress of a long replay', () => {
  it('shows how far, how fast, where and how long still', () => {
    const line = formatProgress({
      read: 120_000,
      total: 200_000,
      elapsedMs: 2_000,
      positions: new Map([
        [1, '59000'],
        [0, '61000'],
      ]),
    });
    expect(line).toBe('120,000 / 200,000 events (60%) · 60,000 events/s · p0@61000 p1@59000 · ETA 1s');
  });

  it('has no ETA when following', () => {
    expect(formatProgress({ read: 10, total: undefined, elapsedMs: 1_000, positions: new Map() })).toBe(
      '10 events · 10 events/s',
    );
    expect(formatDuration(3_725_000)).toBe('1h02m');
  });
});

describe("a message's trace", () => {
  const at = (iso: string) => new Date(iso);
  const event = (offset: string, occurredAt: string) =>
    decodeRecord({
      topic: 't',
      partition: 0,
      offset,
      key: 'bob',
      headers: {},
      timestamp: 0,
      value: eventRecord(fanoutEventCodec, inboxAcked('bob', 1, ['m-1'], at(occurredAt)), {
        occurredAt: at(occurredAt),
      }).value,
    });

  it('takes the events that name the message', () => {
    expect(namesMessage(event('1', '2026-11-28T10:00:00Z'), 'm-1')).toBe(true);
    expect(namesMessage(event('1', '2026-11-28T10:00:00Z'), 'm-2')).toBe(false);
  });

  it('takes gathered receipts that name the message among others', () => {
    const gathered = decodeRecord({
      topic: 't',
      partition: 0,
      offset: '2',
      key: 'alice',
      headers: {},
      timestamp: 0,
      value: eventRecord(
        fanoutEventCodec,
        {
          $case: 'receiptIssued',
          value: {
            accountId: 'alice',
            serverMessageId: 'r-1',
            receipt: undefined,
            deviceIds: [],
            receipts: [
              {
                recipientAccountId: 'bob',
                recipientDeviceId: 1,
                serverMessageIds: ['m-0'],
                deliveredAt: at('2026-11-28T10:00:00Z'),
              },
              {
                recipientAccountId: 'bob',
                recipientDeviceId: 2,
                serverMessageIds: ['m-1'],
                deliveredAt: at('2026-11-28T10:00:00Z'),
              },
            ],
          },
        },
        { occurredAt: at('2026-11-28T10:00:00Z') },
      ).value,
    });
    expect(namesMessage(gathered, 'm-1')).toBe(true);
    expect(namesMessage(gathered, 'm-2')).toBe(false);
  });

  it('orders by time, then by step (an event before the entries it made), then by offset', () => {
    const now = '2026-11-28T10:00:00.000Z';
    const accepted: TraceItem = {
      kind: 'event',
      at: now,
      event: { ...event('3', now), type: 'MessageAccepted' },
    };
    const entry: TraceItem = {
      kind: 'inbox-entry',
      at: now,
      accountId: 'bob',
      deviceId: 2,
      sequence: 1,
      stored: true,
    };
    const acked: TraceItem = { kind: 'event', at: now, event: event('4', now) };
    const ackedAgain: TraceItem = { kind: 'event', at: now, event: event('5', now) };
    const later: TraceItem = {
      kind: 'event',
      at: '2026-11-28T10:00:01.000Z',
      event: event('2', '2026-11-28T10:00:01Z'),
    };

    expect(inTimeOrder([later, ackedAgain, entry, acked, accepted])).toEqual([
      accepted,
      entry,
      acked,
      ackedAgain,
      later,
    ]);
  });
});
