import type { RecordBatch } from '@tandem/messaging';
import type { CommandIO, Connection } from './connection';
import { topicName } from './services';
import { type EventFilter, isEmptyFilter, matches, mayMatch, needsDecoding } from './event-filter';
import { decodeRecord, headerType } from './event-json';
import type { LogSource } from './log-source';
import { planRead, plannedRecords, startPosition } from './positions';
import { ProgressMeter } from './progress';

export interface ReadEventsOptions extends EventFilter {
  /** A topic, or a service whose topic it is (`fanout` is `<prefix>tandem.fanout.events`). */
  readonly topic: string;
  readonly offset?: string;
  readonly since?: string;
  readonly follow?: boolean;
  /** Print only how many events match, decoding no more than the filters need. */
  readonly countOnly?: boolean;
  /** Stop after this many matching events. */
  readonly limit?: number;
  /** Progress on stderr even when it is not a terminal. */
  readonly progress?: boolean;
}

/**
 * `tandem events read`: the topic's events as JSON lines, from the beginning, an offset or a time,
 * filtered, up to the end the topic has now or on and on with --follow. Returns the exit code.
 */
export async function readEvents(
  options: ReadEventsOptions,
  connection: Connection,
  source: LogSource,
  io: CommandIO,
  signal?: AbortSignal,
): Promise<number> {
  const topic = topicName(connection, options.topic);
  const start = startPosition(options);
  const ranges = await source.partitions(topic);
  const timeOffsets = start.kind === 'time' ? await source.offsetsForTime(topic, start.timestamp) : undefined;
  const plans = planRead(ranges, start, options.follow === true, timeOffsets);
  const total = plannedRecords(plans);
  const progress = new ProgressMeter(
    { write: (text) => io.errRaw(text), isTTY: io.errIsTTY },
    options.progress === true || io.errIsTTY,
    total === undefined ? undefined : Number(total),
  );

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) stop.abort();

  const filter: EventFilter = options;
  const everything = isEmptyFilter(filter);
  const decodeToJudge = needsDecoding(filter);
  const hasTypes = (filter.types ?? []).length > 0;
  let matched = 0;

  const onBatch = async (batch: RecordBatch) => {
    if (stop.signal.aborted) return;
    const lines: string[] = [];
    for (const record of batch.records) {
      if (!everything && !mayMatch(record, filter)) continue;
      const certain = everything || (!decodeToJudge && (!hasTypes || headerType(record) !== undefined));
      if (options.countOnly && certain) {
        matched += 1;
      } else {
        const event = decodeRecord(record);
        if (!certain && !matches(event, filter)) continue;
        matched += 1;
        if (!options.countOnly) lines.push(JSON.stringify(event));
      }
      if (options.limit !== undefined && matched >= options.limit) {
        stop.abort();
        break;
      }
    }
    progress.advance(batch.partition, batch.records.at(-1)!.offset, batch.records.length);
    if (lines.length > 0) {
      progress.clear();
      await io.out(lines.join('\n'));
    }
  };

  try {
    await source.read(topic, plans, onBatch, { follow: options.follow === true, signal: stop.signal });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  progress.finish();
  if (options.countOnly) await io.out(String(matched));
  return 0;
}
