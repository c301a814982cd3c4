import { type Command, InvalidArgumentError } from 'commander';
import {
  type CommandIO,
  type Connection,
  type ConnectionOptions,
  resolveConnection,
  UsageError,
} from './connection';
import type { ResetOptions } from './consumers-reset.command';
import type { LogSource } from './log-source';
import { processIO } from './process-io';
import type { ReadEventsOptions } from './read.command';
import type { ReadModelStores } from './read-model-stores';
import type { RebuildOptions } from './rebuild.command';
import type { SummaryOptions } from './summary.command';
import type { TraceOptions } from './trace.command';

const wholeNumber = (value: string): number => {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new InvalidArgumentError('must be a whole number');
  return number;
};

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Where the events are: Kafka or the embedded log. */
function withLogOptions(command: Command): Command {
  return command
    .option('--brokers <host:port,...>', 'Kafka brokers [default: KAFKA_BROKERS]')
    .option(
      '--data-dir <dir>',
      'the embedded data folder, when not on Kafka [default: TANDEM_DATA_DIR, else ./data]',
    )
    .option('--topic-prefix <prefix>', "the installation's topic prefix [default: TANDEM_TOPIC_PREFIX]");
}

/** Where the read models are, in distributed mode. */
function withStoreOptions(command: Command): Command {
  return command
    .option('--mongo <uri>', 'MongoDB of the read models, with --brokers [default: MONGODB_URI]')
    .option(
      '--database-prefix <prefix>',
      'databases are <prefix>_<service> [default: TANDEM_MONGODB_DATABASE_PREFIX, else tandem]',
    );
}

const withProgress = (command: Command): Command =>
  command.option('--progress', 'progress on stderr (events/s, position, ETA) also when it is not a terminal');

interface Context {
  readonly connection: Connection;
  readonly source: LogSource;
  readonly io: CommandIO;
  readonly signal: AbortSignal;
  stores(): Promise<ReadModelStores>;
}

/**
 * Runs a replay command with the log (and stores) it needs, closes them after and sets the exit
 * code: the command's (0, or 1 for "differs", "not found"), 2 when it could not do its work.
 */
async function run(options: ConnectionOptions, work: (context: Context) => Promise<number>): Promise<void> {
  const { io, signal } = processIO();
  let source: LogSource | undefined;
  let stores: ReadModelStores | undefined;
  try {
    const connection = resolveConnection(options);
    const { openLogSource } = await import('./sources');
    source = openLogSource(connection, (line) => io.err(line));
    process.exitCode = await work({
      connection,
      source,
      io,
      signal,
      stores: async () => (stores ??= (await import('./read-model-stores')).openReadModelStores(connection)),
    });
  } catch (error) {
    io.err(`tandem: ${error instanceof Error ? error.message : String(error)}`);
    if (!(error instanceof UsageError) && process.env['TANDEM_DEBUG'] && error instanceof Error)
      io.err(error.stack ?? '');
    process.exitCode = 2;
  } finally {
    await stores?.close();
    await source?.close();
  }
}

/** `tandem events`, `tandem projections`, `tandem trace` and `tandem consumers`: replay and inspection. */
export function registerReplayCommands(program: Command): void {
  const events = program
    .command('events')
    .description("Read and inspect Tandem's topics, on Kafka or in the embedded event log.");

  withProgress(
    withLogOptions(
      events
        .command('read')
        .description(
          'Print the events of a topic as JSON lines: envelope, partition and offset, payload decoded ' +
            '(bytes as base64: ciphertext is never decoded). Reads from the beginning to the current end.',
        )
        .argument(
          '<topic|service>',
          'a topic, or a service (accounts, linking, fanout, backups, presence, media) for its topic',
        )
        .option(
          '--offset <n | p:n,...>',
          'start at this offset in every partition, or per partition (reading only those)',
        )
        .option('--since <time>', 'start at this time: ISO 8601, or a duration back from now (10m, 2h, 1d)')
        .option(
          '--account <account-id>',
          'events keyed by the account or naming it (as sender, recipient...)',
        )
        .option(
          '--device <device-id>',
          "events naming the device (the account's, with --account)",
          wholeNumber,
        )
        .option('--type <event-type>', 'events of this type, e.g. MessageAccepted (repeatable)', collect)
        .option('--correlation <id>', 'events with this correlation id')
        .option('--follow', 'keep reading new events, until Ctrl-C')
        .option('--limit <n>', 'stop after this many events', wholeNumber)
        .option('--count-only', 'print only how many events match'),
    ),
  ).action(
    (topic: string, options: Omit<ReadEventsOptions, 'topic'> & ConnectionOptions & { type?: string[] }) =>
      run(options, async ({ connection, source, io, signal }) =>
        (await import('./read.command')).readEvents(
          { ...options, topic, types: options.type ?? [] },
          connection,
          source,
          io,
          signal,
        ),
      ),
  );

  withProgress(
    withLogOptions(
      events
        .command('summary')
        .description(
          "A topic's events by type, its partitions' ends, and each consumer group's lag per partition.",
        )
        .argument('<topic|service>', 'a topic, or a service for its topic')
        .option('--json', 'one JSON object instead of tables'),
    ),
  ).action((topic: string, options: Omit<SummaryOptions, 'topic'> & ConnectionOptions) =>
    run(options, async ({ connection, source, io }) =>
      (await import('./summary.command')).showSummary({ ...options, topic }, connection, source, io),
    ),
  );

  const projections = program
    .command('projections')
    .description('Rebuild read models by replay and compare them.');
  projections
    .command('list')
    .description(
      'Every projection the services declare: the service that keeps it, the topics and consumer groups ' +
        'it is kept from, and its collections.',
    )
    .action(async () => {
      const { allProjections } = await import('./projections');
      const rows = allProjections().map((spec) => [
        spec.service,
        spec.name,
        spec.liveGroups.map((group) => `${group.topic} (${group.service}.${group.purpose})`).join(', '),
        spec.collections.join(', '),
      ]);
      const { table } = await import('./table');
      process.stdout.write(
        table(['service', 'projection', 'topics (consumer group)', 'collections'], rows).join('\n') + '\n',
      );
    });
  withProgress(
    withStoreOptions(
      withLogOptions(
        projections
          .command('rebuild')
          .description(
            'Replay the topics of a projection from their beginning into a scratch database (MongoDB) or ' +
              'folder (embedded) with the projection class its service runs; --diff compares the result with ' +
              'the live read model and exits 1 when they differ.',
          )
          .argument('<projection>', 'the projection, as its service names it (`tandem projections list`)')
          .requiredOption('--into <database|dir>', 'the scratch database (MongoDB) or folder (embedded)')
          .option(
            '--service <service>',
            'the service that keeps it, for one kept by several (device-directory)',
          )
          .option('--diff', 'compare with the live projection; exit 1 when they differ')
          .option('--ignore <field>', 'a further field to leave out of the comparison (repeatable)', collect)
          .option('--replace', 'empty the scratch database or folder when it holds a rebuild already')
          .option('--json', 'the comparison as one JSON object'),
      ),
    ),
  ).action((projection: string, options: Omit<RebuildOptions, 'projection'> & ConnectionOptions) =>
    run(options, async ({ connection, source, io, stores }) =>
      (await import('./rebuild.command')).rebuildProjection(
        { ...options, projection },
        connection,
        source,
        await stores(),
        io,
      ),
    ),
  );

  withProgress(
    withStoreOptions(
      withLogOptions(
        program
          .command('trace')
          .description(
            "A message's life in time order: accepted, synced to the sender's devices, its inbox entries " +
              '(device, sequence), acks and receipts. Searches the fan-out topic from its beginning.',
          )
          .argument('<server-message-id>', 'the server message id Send returned')
          .option('--since <time>', 'search from this time: ISO 8601 or a duration back from now')
          .option('--json', 'JSON lines instead of text'),
      ),
    ),
  ).action((serverMessageId: string, options: Omit<TraceOptions, 'serverMessageId'> & ConnectionOptions) =>
    run(options, async ({ connection, source, io, stores }) => {
      const inboxes =
        connection.mode === 'distributed' && !connection.mongoUri
          ? undefined
          : async () => (await stores()).live('fanout');
      return (await import('./trace.command')).traceMessage(
        { ...options, serverMessageId },
        connection,
        source,
        inboxes,
        io,
      );
    }),
  );

  const consumers = program.command('consumers').description("Tandem's consumer groups on Kafka.");
  withLogOptions(
    consumers
      .command('reset')
      .description(
        "Move a consumer group's committed offsets in a topic; the group must have no active members. " +
          'Prints the offsets before and after per partition.',
      )
      .argument('<group>', 'the consumer group, e.g. fanout.inboxes')
      .option(
        '--topic <topic|service>',
        'the topic, or a service for its topic (a group the services declare knows its own)',
      )
      .option('--to-earliest', "to the partitions' first records: the group replays everything")
      .option('--to-latest', "to the partitions' ends: the group skips what is there")
      .option('--to-offset <n | p:n,...>', 'to this offset in every partition, or per partition')
      .option('--to-time <time>', 'to the first record at or after this time (ISO 8601, or 10m, 2h...)')
      .option('--dry-run', 'print the offsets before and after, change nothing'),
  ).action((group: string, options: Omit<ResetOptions, 'group'> & ConnectionOptions) =>
    run(options, async ({ connection, source, io }) =>
      (await import('./consumers-reset.command')).resetConsumerGroup(
        { ...options, group },
        connection,
        source,
        io,
      ),
    ),
  );
}
