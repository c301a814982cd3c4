import type { CommandIO, Connection } from './connection';
import { topicName } from './services';
import { decodeRecord, headerType } from './event-json';
import type { GroupPositions, LogSource } from './log-source';
import type { PartitionRange } from './positions';
import { ProgressMeter } from './progress';
import { table } from './table';

export interface SummaryOptions {
  readonly topic: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** One partition of a consumer group: where it is and how far behind the end. */
export interface PartitionLag {
  readonly partition: number;
  /** The next offset the group handles; undefined when it never committed in this partition. */
  readonly committed: bigint | undefined;
  readonly high: bigint;
  /** Records between the committed offset (else the first record held) and the end. */
  readonly lag: bigint;
}

export interface GroupLag {
  readonly groupId: string;
  readonly state: string | undefined;
  readonly members: number | undefined;
  readonly partitions: readonly PartitionLag[];
  readonly totalLag: bigint;
}

export function groupLag(ranges: readonly PartitionRange[], group: GroupPositions): GroupLag {
  const partitions = ranges.map((range) => {
    const committed = group.committed.get(range.partition);
    const from = committed ?? range.low;
    return {
      partition: range.partition,
      committed,
      high: range.high,
      lag: from < range.high ? range.high - from : 0n,
    };
  });
  return {
    groupId: group.groupId,
    state: group.state,
    members: group.members,
    partitions,
    totalLag: partitions.reduce((sum, partition) => sum + partition.lag, 0n),
  };
}

export interface TopicSummary {
  readonly topic: string;
  readonly events: number;
  readonly types: ReadonlyMap<string, number>;
  readonly partitions: readonly PartitionRange[];
  readonly groups: readonly GroupLag[];
}

/** Counts a topic's events by type (from the record header when there is one) to its current end. */
export async function summarize(
  topic: string,
  source: LogSource,
  progress?: ProgressMeter,
): Promise<TopicSummary> {
  const partitions = await source.partitions(topic);
  const types = new Map<string, number>();
  let events = 0;
  const plans = partitions.map((range) => ({ partition: range.partition, from: range.low, to: range.high }));
  await source.read(
    topic,
    plans,
    (batch) => {
      for (const record of batch.records) {
        const decoded = headerType(record) === undefined ? decodeRecord(record) : undefined;
        const type =
          headerType(record) ?? (decoded?.error ? '(not decodable)' : decoded?.type || '(no type)');
        types.set(type, (types.get(type) ?? 0) + 1);
      }
      events += batch.records.length;
      progress?.advance(batch.partition, batch.records.at(-1)!.offset, batch.records.length);
    },
    { follow: false },
  );
  const groups = (await source.groups(topic)).map((group) => groupLag(partitions, group));
  return { topic, events, types, partitions, groups };
}

export function summaryJson(summary: TopicSummary): unknown {
  return {
    topic: summary.topic,
    events: summary.events,
    types: Object.fromEntries([...summary.types].sort(([a], [b]) => a.localeCompare(b))),
    partitions: summary.partitions.map(({ partition, low, high }) => ({
      partition,
      low: low.toString(),
      high: high.toString(),
    })),
    groups: summary.groups.map((group) => ({
      groupId: group.groupId,
      ...(group.state === undefined ? {} : { state: group.state }),
      ...(group.members === undefined ? {} : { members: group.members }),
      totalLag: group.totalLag.toString(),
      partitions: group.partitions.map(({ partition, committed, high, lag }) => ({
        partition,
        committed: committed === undefined ? null : committed.toString(),
        high: high.toString(),
        lag: lag.toString(),
      })),
    })),
  };
}

export function summaryText(summary: TopicSummary, where: string): string[] {
  const lines = [
    `${summary.topic} (${where}): ${summary.partitions.length} partitions, ${summary.events.toLocaleString('en-US')} events`,
    '',
    ...table(
      ['partition', 'first offset', 'end (high watermark)'],
      summary.partitions.map(({ partition, low, high }) => [partition, low, high]),
    ),
    '',
  ];
  if (summary.types.size === 0) lines.push('no events');
  else {
    lines.push(
      ...table(
        ['event type', 'events'],
        [...summary.types].sort(([a], [b]) => a.localeCompare(b)).map(([type, events]) => [type, events]),
      ),
    );
  }
  lines.push('');
  if (summary.groups.length === 0) {
    lines.push('no consumer group has committed offsets in this topic');
    return lines;
  }
  const rows: (string | number | bigint)[][] = [];
  for (const group of summary.groups) {
    const about = [group.state, group.members === undefined ? undefined : `${group.members} members`]
      .filter(Boolean)
      .join(', ');
    for (const partition of group.partitions) {
      rows.push([
        partition.partition === group.partitions[0]?.partition ? group.groupId : '',
        partition.partition === group.partitions[0]?.partition ? about : '',
        partition.partition,
        partition.committed === undefined ? '-' : partition.committed,
        partition.high,
        partition.lag,
      ]);
    }
    rows.push(['', '', 'total', '', '', group.totalLag]);
  }
  lines.push(...table(['consumer group', 'state', 'partition', 'committed', 'end', 'lag'], rows));
  return lines;
}

/** `tandem events summary`: counts by event type, partition ends, and each consumer group's lag. */
export async function showSummary(
  options: SummaryOptions,
  connection: Connection,
  source: LogSource,
  io: CommandIO,
): Promise<number> {
  const topic = topicName(connection, options.topic);
  const ranges = await source.partitions(topic);
  const progress = new ProgressMeter(
    { write: (text) => io.errRaw(text), isTTY: io.errIsTTY },
    options.progress === true || io.errIsTTY,
    Number(ranges.reduce((sum, range) => sum + (range.high - range.low), 0n)),
  );
  const summary = await summarize(topic, source, progress);
  progress.finish('counted');
  if (options.json) await io.out(JSON.stringify(summaryJson(summary)));
  else await io.out(summaryText(summary, source.description).join('\n'));
  return 0;
}
