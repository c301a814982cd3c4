import { type CommandIO, type Connection, UsageError } from './connection';
import { topicName } from './services';
import { declaredGroups } from './consumer-groups';
import type { LogSource } from './log-source';
import type { KafkaLogSource } from './log-source.kafka';
import { type PartitionRange, parseOffsets, parseSince } from './positions';
import { table } from './table';

export interface ResetOptions {
  readonly group: string;
  /** The topic, or a service for its topic; the group's own when the services declare it. */
  readonly topic?: string;
  readonly toEarliest?: boolean;
  readonly toLatest?: boolean;
  /** One offset for every partition, or partition:offset pairs. */
  readonly toOffset?: string;
  /** An ISO time or a duration back from now: the first offset at or after it, per partition. */
  readonly toTime?: string;
  readonly dryRun?: boolean;
}

export type ResetTarget =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'offsets'; readonly offsets: ReadonlyMap<number, bigint> | bigint }
  | { readonly kind: 'time'; readonly timestamp: number };

export function resetTarget(options: ResetOptions, now?: number): ResetTarget {
  const given = [
    options.toEarliest,
    options.toLatest,
    options.toOffset !== undefined,
    options.toTime !== undefined,
  ];
  if (given.filter(Boolean).length !== 1) {
    throw new UsageError('give exactly one of --to-earliest, --to-latest, --to-offset, --to-time');
  }
  if (options.toEarliest) return { kind: 'earliest' };
  if (options.toLatest) return { kind: 'latest' };
  if (options.toOffset !== undefined) {
    const position = parseOffsets(options.toOffset);
    return {
      kind: 'offsets',
      offsets:
        position.kind === 'offset' ? position.offset : position.kind === 'offsets' ? position.offsets : 0n,
    };
  }
  return { kind: 'time', timestamp: parseSince(options.toTime!, now) };
}

/**
 * The new committed offset of each partition the reset moves, kept within what the partition holds
 * (Kafka would otherwise apply the group's auto.offset.reset on the next fetch).
 */
export function newOffsets(
  ranges: readonly PartitionRange[],
  target: ResetTarget,
  timeOffsets?: ReadonlyMap<number, bigint>,
): Map<number, bigint> {
  if (target.kind === 'offsets' && typeof target.offsets !== 'bigint') {
    for (const partition of target.offsets.keys()) {
      if (!ranges.some((range) => range.partition === partition)) {
        throw new UsageError(`the topic has no partition ${partition} (it has ${ranges.length})`);
      }
    }
  }
  const offsets = new Map<number, bigint>();
  for (const range of ranges) {
    let offset: bigint | undefined;
    switch (target.kind) {
      case 'earliest':
        offset = range.low;
        break;
      case 'latest':
        offset = range.high;
        break;
      case 'offsets':
        offset = typeof target.offsets === 'bigint' ? target.offsets : target.offsets.get(range.partition);
        break;
      case 'time':
        offset = timeOffsets?.get(range.partition) ?? range.high;
        break;
    }
    if (offset === undefined) continue;
    offsets.set(range.partition, offset < range.low ? range.low : offset > range.high ? range.high : offset);
  }
  return offsets;
}

/** The topic of a consumer group the services declare. */
function declaredTopic(connection: Connection, groupId: string): string {
  const declared = declaredGroups(connection);
  const group = declared.find((candidate) => candidate.groupId === groupId);
  if (!group) {
    throw new UsageError(
      `${groupId} is not a consumer group the services declare: give --topic, or one of ` +
        declared.map((candidate) => candidate.groupId).join(', '),
    );
  }
  return group.topic;
}

const isKafka = (source: LogSource): source is KafkaLogSource => 'setOffsets' in source;

/**
 * `tandem consumers reset`: moves a consumer group's committed offsets in one topic, printing them
 * before and after per partition. The group must have no active member: a running consumer would
 * commit over the reset. Kafka only. Returns the exit code.
 */
export async function resetConsumerGroup(
  options: ResetOptions,
  connection: Connection,
  source: LogSource,
  io: CommandIO,
): Promise<number> {
  const target = resetTarget(options);
  if (!isKafka(source)) {
    throw new UsageError(
      "resetting a consumer group works on Kafka only (--brokers); the embedded log's groups live in the Tandem process that uses them",
    );
  }
  const topic =
    options.topic === undefined
      ? declaredTopic(connection, options.group)
      : topicName(connection, options.topic);
  const ranges = await source.partitions(topic);
  const group = await source.describeGroup(options.group);
  const before = (await source.groups(topic)).find((candidate) => candidate.groupId === options.group);
  const timeOffsets =
    target.kind === 'time' ? await source.offsetsForTime(topic, target.timestamp) : undefined;
  const after = newOffsets(ranges, target, timeOffsets);

  const rows = ranges.map((range) => {
    const old = before?.committed.get(range.partition);
    const next = after.get(range.partition);
    return [
      range.partition,
      old === undefined ? '-' : old,
      next === undefined ? '(unchanged)' : next,
      range.high,
      next === undefined ? '' : range.high - next,
    ] as (string | number | bigint)[];
  });
  await io.out(
    [
      `consumer group ${options.group} on ${topic} (${group.state}, ${group.members.length} active members)`,
      ...table(['partition', 'committed now', 'after reset', 'end', 'lag after'], rows),
    ].join('\n'),
  );
  if (group.members.length > 0) {
    io.err(
      `the group has ${group.members.length} active member${group.members.length === 1 ? '' : 's'} ` +
        `(${group.members.join('; ')}): stop the consumers first; a running consumer would commit over the reset`,
    );
    return 1;
  }
  if (options.dryRun) {
    await io.out('dry run: nothing changed');
    return 0;
  }
  await source.setOffsets(options.group, topic, after);
  const now = (await source.groups(topic)).find((candidate) => candidate.groupId === options.group);
  const moved = [...after].filter(([partition, offset]) => now?.committed.get(partition) !== offset);
  if (moved.length > 0) {
    io.err(`the reset did not take for partitions ${moved.map(([partition]) => partition).join(', ')}`);
    return 1;
  }
  await io.out(`reset: ${options.group} now starts at the offsets "after reset" above`);
  return 0;
}
