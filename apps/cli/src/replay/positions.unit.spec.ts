import { describe, expect, it } from 'vitest';
import { UsageError } from './connection';
import { parseOffsets, parseSince, planRead, plannedRecords, startPosition } from './positions';

const ranges = [
  { partition: 0, low: 0n, high: 10n },
  { partition: 1, low: 5n, high: 8n },
  { partition: 2, low: 0n, high: 0n },
];

describe('where a read starts', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');

  it('takes --since as a duration back from now or as an ISO time', () => {
    expect(parseSince('10m', now)).toBe(now - 600_000);
    expect(parseSince('90s', now)).toBe(now - 90_000);
    expect(parseSince('2h', now)).toBe(now - 7_200_000);
    expect(parseSince('1d', now)).toBe(now - 86_400_000);
    expect(parseSince('2026-11-28T10:00:00Z', now)).toBe(Date.parse('2026-11-28T10:00:00Z'));
  });

  it('refuses a --since that is neither', () => {
    expect(() => parseSince('yesterday', now)).toThrow(UsageError);
    expect(() => parseSince('2026-13-45T99:00:00Z', now)).toThrow(/not a time/);
  });

  it('takes --offset as one offset or as partition:offset pairs', () => {
    expect(parseOffsets('120')).toEqual({ kind: 'offset', offset: 120n });
    expect(parseOffsets('0:120, 3:7')).toEqual({
      kind: 'offsets',
      offsets: new Map([
        [0, 120n],
        [3, 7n],
      ]),
    });
    expect(() => parseOffsets('0:1,0:2')).toThrow(/twice/);
    expect(() => parseOffsets('first')).toThrow(UsageError);
  });

  it('refuses --offset and --since together, and starts at the beginning without either', () => {
    expect(() => startPosition({ offset: '1', since: '1m' })).toThrow(/not both/);
    expect(startPosition({})).toEqual({ kind: 'beginning' });
  });
});

describe('what a read covers', () => {
  it('reads every partition from its first record to its current end', () => {
    expect(planRead(ranges, { kind: 'beginning' }, false)).toEqual([
      { partition: 0, from: 0n, to: 10n },
      { partition: 1, from: 5n, to: 8n },
      { partition: 2, from: 0n, to: 0n },
    ]);
  });

  it('has no end when following', () => {
    expect(planRead(ranges, { kind: 'beginning' }, true).map((plan) => plan.to)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('starts every partition at an offset, no earlier than its first record', () => {
    expect(planRead(ranges, { kind: 'offset', offset: 3n }, false).map((plan) => plan.from)).toEqual([
      3n,
      5n,
      3n,
    ]);
  });

  it('reads only the partitions named by pairs', () => {
    const plans = planRead(ranges, { kind: 'offsets', offsets: new Map([[1, 6n]]) }, false);
    expect(plans).toEqual([{ partition: 1, from: 6n, to: 8n }]);
    expect(() => planRead(ranges, { kind: 'offsets', offsets: new Map([[7, 0n]]) }, false)).toThrow(
      /no partition 7/,
    );
  });

  it('starts at the offsets found for a time, at the end where none is', () => {
    const plans = planRead(ranges, { kind: 'time', timestamp: 0 }, false, new Map([[0, 4n]]));
    expect(plans.map((plan) => plan.from)).toEqual([4n, 8n, 0n]);
  });

  it('counts the records it covers, when it ends', () => {
    expect(plannedRecords(planRead(ranges, { kind: 'beginning' }, false))).toBe(13n);
    expect(plannedRecords(planRead(ranges, { kind: 'beginning' }, true))).toBeUndefined();
  });
});
