import type { CommandStartedEvent, Db, Document, MongoClient } from 'mongodb';

/** A command the driver sent to the server, as its command monitoring saw it. */
export interface MongoOperation {
  readonly name: string;
  readonly collection: string;
  readonly command: Document;
}

/** Commands of the connection's own bookkeeping, not of the code under test. */
const BOOKKEEPING = new Set([
  'hello',
  'isMaster',
  'ismaster',
  'ping',
  'endSessions',
  'saslStart',
  'saslContinue',
]);

/**
 * Records the commands a client (created with `monitorCommands: true`) sends to one database while
 * `run` runs. Run one measured operation at a time: every command sent meanwhile is counted.
 */
export async function recordMongoOperations(
  client: MongoClient,
  database: string,
  run: () => Promise<unknown>,
): Promise<MongoOperation[]> {
  const operations: MongoOperation[] = [];
  const listener = (event: CommandStartedEvent): void => {
    if (event.databaseName !== database || BOOKKEEPING.has(event.commandName)) return;
    const collection = event.command[event.commandName];
    operations.push({
      name: event.commandName,
      collection: typeof collection === 'string' ? collection : '',
      command: event.command,
    });
  };
  client.on('commandStarted', listener);
  try {
    await run();
  } finally {
    client.off('commandStarted', listener);
  }
  return operations;
}

/** The filters an operation selects documents with: none for an insert. */
export function filtersOf(operation: MongoOperation): Document[] {
  const { command } = operation;
  switch (operation.name) {
    case 'insert':
      return [];
    case 'find':
      return [command['filter'] ?? {}];
    case 'findAndModify':
      return [command['query'] ?? {}];
    case 'update':
      return (command['updates'] as { q: Document }[]).map((update) => update.q);
    case 'delete':
      return (command['deletes'] as { q: Document }[]).map((deletion) => deletion.q);
    default:
      return [{ unknownOperation: operation.name }];
  }
}

/** True for `{_id: <string>}` and nothing else: what every MongoDB-protocol server answers by key. */
export function isExactId(filter: Document): boolean {
  const keys = Object.keys(filter);
  return keys.length === 1 && keys[0] === '_id' && typeof filter['_id'] === 'string';
}

/** The operations that are neither an insert nor select by an exact `_id`, for a readable failure. */
export function operationsNotByKey(operations: readonly MongoOperation[]): string[] {
  return operations
    .filter((operation) => !filtersOf(operation).every(isExactId))
    .map((operation) => `${operation.name} ${operation.collection} ${JSON.stringify(filtersOf(operation))}`);
}

/** What the server says of the filters it was sent (FerretDB's `explain`). */
export interface ServerPlans {
  /** FerretDB's backend, read from the plans' form; `mongodb` for a server that is not FerretDB. */
  readonly server: 'mongodb' | 'ferretdb-postgresql' | 'ferretdb-sqlite';
  /** The filters FerretDB did not hand to its backend (it reads the whole collection for those). */
  readonly notPushedDown: string[];
  /** On PostgreSQL: the filters whose plan reads the whole table (a `Seq Scan`). */
  readonly scanned: string[];
}

/**
 * The server's own word on how it answers each filter, from `explain`. On FerretDB: whether it
 * pushes the filter down to its backend, and on PostgreSQL whether an index serves it. FerretDB on
 * SQLite plans every `_id` look-up as a scan of the table, so there `scanned` stays empty: only
 * PostgreSQL can show flat look-ups. MongoDB answers an exact `_id` from its `_id` index.
 */
export async function explainFilters(db: Db, operations: readonly MongoOperation[]): Promise<ServerPlans> {
  const build = await db.admin().command({ buildInfo: 1 });
  const notPushedDown: string[] = [];
  const scanned: string[] = [];
  let server: ServerPlans['server'] = 'mongodb';
  if (!build['ferretdbVersion']) return { server, notPushedDown, scanned };
  server = 'ferretdb-sqlite';
  for (const operation of operations) {
    for (const filter of filtersOf(operation)) {
      const explained = await db.command({ explain: { find: operation.collection, filter } });
      const described = `${operation.name} ${operation.collection} ${JSON.stringify(filter)}`;
      if (explained['filterPushdown'] !== true) notPushedDown.push(described);
      const plan = JSON.stringify(explained['queryPlanner'] ?? {});
      if (plan.includes('Node Type')) {
        server = 'ferretdb-postgresql';
        if (plan.includes('Seq Scan')) scanned.push(described);
      }
    }
  }
  return { server, notPushedDown, scanned };
}
