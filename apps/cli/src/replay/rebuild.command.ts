import type { Document, DocumentStore } from '@tandem/documents';
import { type CommandIO, type Connection, serviceGroup, serviceTopic } from './connection';
import { type CollectionDiff, diffCollection, diffJson, diffText, differs } from './document-diff';
import type { LogSource } from './log-source';
import { type ProjectionSpec, projectionSpec, type Replay } from './projections';
import { ProgressMeter } from './progress';
import type { ReadModelStores } from './read-model-stores';
import { groupLag } from './summary.command';

export interface RebuildOptions {
  readonly projection: string;
  /** The service whose device directory to rebuild. */
  readonly service?: string;
  /** The scratch database (MongoDB) or folder (embedded). */
  readonly into: string;
  readonly replace?: boolean;
  readonly diff?: boolean;
  /** More fields to leave out of the comparison. */
  readonly ignore?: readonly string[];
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** What a rebuild compared with the live projection found. */
export interface RebuildResult {
  readonly events: number;
  readonly counts: ReadonlyMap<string, number>;
  readonly diffs: readonly CollectionDiff[] | undefined;
  readonly differs: boolean;
}

async function allDocuments(store: DocumentStore, collection: string): Promise<Document[]> {
  return store.collection<Document>(collection).find({});
}

/**
 * `tandem projections rebuild`: replays the projection's topics from their beginning into a scratch
 * store with the service's own projection class, then with --diff compares it with the live one.
 * Returns the exit code: 1 when they differ, else 0.
 */
export async function rebuildProjection(
  options: RebuildOptions,
  connection: Connection,
  source: LogSource,
  stores: ReadModelStores,
  io: CommandIO,
): Promise<number> {
  return (await rebuild(options, connection, source, stores, io)).differs ? 1 : 0;
}

export async function rebuild(
  options: RebuildOptions,
  connection: Connection,
  source: LogSource,
  stores: ReadModelStores,
  io: CommandIO,
): Promise<RebuildResult> {
  const spec = projectionSpec(options.projection, options.service);
  const scratch = await stores.scratch(spec.service, options.into, options.replace === true);
  const say = (line: string) => (options.json ? io.err(line) : io.out(line));

  let events = 0;
  const replay: Replay = async (service, onBatch) => {
    const topic = serviceTopic(connection, service);
    const ranges = await source.partitions(topic);
    const progress = new ProgressMeter(
      { write: (text) => io.errRaw(text), isTTY: io.errIsTTY },
      options.progress === true || io.errIsTTY,
      Number(ranges.reduce((sum, range) => sum + (range.high - range.low), 0n)),
    );
    const plans = ranges.map((range) => ({ partition: range.partition, from: range.low, to: range.high }));
    await source.read(
      topic,
      plans,
      async (batch) => {
        await onBatch(batch);
        events += batch.records.length;
        progress.advance(batch.partition, batch.records.at(-1)!.offset, batch.records.length);
      },
      { follow: false },
    );
    progress.finish(`replayed ${topic}:`);
  };
  await spec.rebuild(scratch.store, replay);

  const counts = new Map<string, number>();
  for (const collection of spec.collections) {
    counts.set(collection, (await allDocuments(scratch.store, collection)).length);
  }
  const topics = spec.topics.map((service) => serviceTopic(connection, service)).join(' and ');
  await say(
    `rebuilt ${spec.name} from ${topics} (${events} events) into ${scratch.description}: ` +
      [...counts].map(([collection, count]) => `${collection} ${count}`).join(', '),
  );
  if (!options.diff) return { events, counts, diffs: undefined, differs: false };

  const live = await stores.live(spec.service);
  const ignored = {
    ...spec.ignoredFields,
    ...Object.fromEntries((options.ignore ?? []).map((field) => [field, 'as asked'])),
  };
  const diffs: CollectionDiff[] = [];
  for (const collection of spec.collections) {
    diffs.push(
      diffCollection(
        collection,
        await allDocuments(live.store, collection),
        await allDocuments(scratch.store, collection),
        Object.keys(ignored),
      ),
    );
  }
  const different = diffs.some(differs);
  for (const note of await lagNotes(spec, connection, source)) io.err(note);
  if (options.json) {
    await io.out(
      JSON.stringify({
        projection: spec.name,
        equal: !different,
        ignoredFields: ignored,
        collections: diffJson(diffs),
      }),
    );
  } else {
    await io.out(`compared with ${live.description}`);
    const ignoredList = Object.entries(ignored).map(([field, why]) => `${field} (${why})`);
    if (ignoredList.length > 0)
      await io.out(`ignoring fields that legitimately differ: ${ignoredList.join(', ')}`);
    await io.out(diffText(diffs).join('\n'));
    await io.out(
      different
        ? `differs: the live ${spec.name} is not what replaying its topics gives`
        : `equal: the live ${spec.name} is what replaying its topics gives`,
    );
  }
  return { events, counts, diffs, differs: different };
}

/** Says when a live consumer group had not caught up: then some differences are only that. */
async function lagNotes(spec: ProjectionSpec, connection: Connection, source: LogSource): Promise<string[]> {
  const notes: string[] = [];
  for (const live of spec.liveGroups) {
    const topic = serviceTopic(connection, live.topic);
    const groupId = serviceGroup(connection, live.service, live.purpose);
    const group = (await source.groups(topic)).find((candidate) => candidate.groupId === groupId);
    if (!group) {
      notes.push(`note: the live consumer group ${groupId} has committed nothing in ${topic}`);
      continue;
    }
    const lag = groupLag(await source.partitions(topic), group);
    if (lag.totalLag > 0n) {
      notes.push(
        `note: the live consumer group ${groupId} is ${lag.totalLag} events behind the end of ${topic}: differences may be events it has not applied yet`,
      );
    }
  }
  return notes;
}
