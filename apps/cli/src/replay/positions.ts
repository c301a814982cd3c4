import { UsageError } from './connection';

/** A partition's first offset held and the offset its next record gets (Kafka's high watermark). */
export interface PartitionRange {
  readonly partition: number;
  readonly low: bigint;
  readonly high: bigint;
}

/** Where to read one partition: from `from`, up to `to` (exclusive), or on and on when following. */
export interface PartitionPlan {
  readonly partition: number;
  readonly from: bigint;
  readonly to: bigint | undefined;
}

/** Where a read starts, as the command line says it. */
export type StartPosition =
  | { readonly kind: 'beginning' }
  | { readonly kind: 'offset'; readonly offset: bigint }
  | { readonly kind: 'offsets'; readonly offsets: ReadonlyMap<number, bigint> }
  | { readonly kind: 'time'; readonly timestamp: number };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO 8601 time, or a duration back from now such as `90s`, `10m`, `2h`, `1d`. */
export function parseSince(value: string, now: number = Date.now()): number {
  const duration = DURATION.exec(value.trim());
  if (duration) return now - Number(duration[1]) * UNIT_MS[duration[2]!]!;
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new UsageError(
      `--since ${value}: give an ISO time (2026-11-28T10:00:00Z) or a duration (10m, 2h, 1d)`,
    );
  }
  const timestamp = Date.parse(value);
  if (Number.isNaN(timestamp)) throw new UsageError(`--since ${value} is not a time`);
  return timestamp;
}

/** `--offset`: one offset for every partition (`120`), or per partition (`0:120,3:7`), reading only those. */
export function parseOffsets(value: string): StartPosition {
  const text = value.trim();
  if (/^\d+$/.test(text)) return { kind: 'offset', offset: BigInt(text) };
  const offsets = new Map<number, bigint>();
  for (const pair of text.split(',')) {
    const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(pair);
    if (!match)
      throw new UsageError(`--offset ${value}: give an offset (120) or partition:offset pairs (0:120,3:7)`);
    const partition = Number(match[1]);
    if (offsets.has(partition)) throw new UsageError(`--offset ${value} names partition ${partition} twice`);
    offsets.set(partition, BigInt(match[2]!));
  }
  return { kind: 'offsets', offsets };
}

export function startPosition(options: { offset?: string; since?: string }, now?: number): StartPosition {
  if (options.offset !== undefined && options.since !== undefined) {
    throw new UsageError('give --offset or --since, not both');
  }
  if (options.offset !== undefined) return parseOffsets(options.offset);
  if (options.since !== undefined) return { kind: 'time', timestamp: parseSince(options.since, now) };
  return { kind: 'beginning' };
}

/**
 * What to read of each partition. `timeOffsets` are the first offsets at or after the start time
 * (for a `time` start). Without following, a read ends at the partitions' ends as they are now.
 */
export function planRead(
  ranges: readonly PartitionRange[],
  start: StartPosition,
  follow: boolean,
  timeOffsets?: ReadonlyMap<number, bigint>,
): PartitionPlan[] {
  if (start.kind === 'offsets') {
    for (const partition of start.offsets.keys()) {
      if (!ranges.some((range) => range.partition === partition)) {
        throw new UsageError(`the topic has no partition ${partition} (it has ${ranges.length})`);
      }
    }
  }
  const plans: PartitionPlan[] = [];
  for (const range of ranges) {
    let from: bigint;
    switch (start.kind) {
      case 'beginning':
        from = range.low;
        break;
      case 'offset':
        from = start.offset;
        break;
      case 'offsets': {
        const offset = start.offsets.get(range.partition);
        if (offset === undefined) continue;
        from = offset;
        break;
      }
      case 'time':
        from = timeOffsets?.get(range.partition) ?? range.high;
        break;
    }
    from = from < range.low ? range.low : from;
    plans.push({ partition: range.partition, from, to: follow ? undefined : range.high });
  }
  return plans;
}

/** How many records a plan reads at most (offsets may have gaps), when it ends. */
export function plannedRecords(plans: readonly PartitionPlan[]): bigint | undefined {
  let total = 0n;
  for (const plan of plans) {
    if (plan.to === undefined) return undefined;
    if (plan.to > plan.from) total += plan.to - plan.from;
  }
  return total;
}
