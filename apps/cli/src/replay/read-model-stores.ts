import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DocumentStore, EmbeddedDocumentStore, MongoDocumentStore } from '@tandem/documents';
import { MongoClient } from 'mongodb';
import {
  type Connection,
  READ_MODEL_PREFIX,
  type ServiceName,
  serviceDatabase,
  UsageError,
} from './connection';
import { SERVICES } from './services';

/** A document store and where it is, for messages. */
export interface NamedStore {
  readonly store: DocumentStore;
  readonly description: string;
}

/**
 * The services' read models as Tandem keeps them (MongoDB database `<prefix>_<service>`, collections
 * `read_<name>`; embedded: `<data dir>/<service>.documents.sqlite`) and scratch stores named alike
 * elsewhere (another database, another folder), to rebuild projections into.
 */
export interface ReadModelStores {
  /** The live read models of a service, to compare with (and, for trace, to read). */
  live(service: ServiceName): Promise<NamedStore>;
  /**
   * A scratch store for a service's read models at `into`. It refuses the live database or folder,
   * and a scratch store that holds documents already unless `replace` (then it is emptied).
   */
  scratch(service: ServiceName, into: string, replace: boolean): Promise<NamedStore>;
  close(): Promise<void>;
}

/** MongoDB's rules for a database name. */
const DATABASE_NAME = /^[^/\\. "$*<>:|?]{1,63}$/;

class MongoReadModelStores implements ReadModelStores {
  private client: Promise<MongoClient> | undefined;

  constructor(
    private readonly uri: string,
    private readonly databasePrefix: string,
  ) {}

  async live(service: ServiceName): Promise<NamedStore> {
    const name = serviceDatabase(this.databasePrefix, service);
    const db = (await this.connected()).db(name);
    return {
      store: new MongoDocumentStore(db, { collectionPrefix: READ_MODEL_PREFIX }),
      description: `MongoDB database ${name}`,
    };
  }

  async scratch(_service: ServiceName, into: string, replace: boolean): Promise<NamedStore> {
    if (!DATABASE_NAME.test(into)) throw new UsageError(`--into ${into} is not a MongoDB database name`);
    const live = SERVICES.map((service) => serviceDatabase(this.databasePrefix, service));
    if (live.includes(into)) {
      throw new UsageError(
        `--into ${into} is a live database of Tandem; give a fresh name, e.g. ${into}_rebuild`,
      );
    }
    const db = (await this.connected()).db(into);
    const store = new MongoDocumentStore(db, { collectionPrefix: READ_MODEL_PREFIX });
    const collections = (await db.listCollections({}, { nameOnly: true }).toArray()).map(({ name }) => name);
    if (collections.length > 0) {
      const outside = collections.filter((name) => !name.startsWith(READ_MODEL_PREFIX));
      if (!replace || outside.length > 0) {
        throw new UsageError(
          `database ${into} is not empty (${collections.join(', ')}): give a fresh name` +
            (outside.length > 0 ? '' : ', or --replace to empty it'),
        );
      }
      await store.drop();
    }
    return { store, description: `MongoDB database ${into}` };
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.then((connected) => connected.close()).catch(() => undefined);
  }

  private connected(): Promise<MongoClient> {
    this.client ??= MongoClient.connect(this.uri, { serverSelectionTimeoutMS: 10_000 });
    return this.client;
  }
}

const storeFile = (dataDir: string, service: ServiceName): string =>
  join(dataDir, `${service}.documents.sqlite`);

class EmbeddedReadModelStores implements ReadModelStores {
  private readonly opened: DocumentStore[] = [];

  constructor(private readonly dataDir: string) {}

  async live(service: ServiceName): Promise<NamedStore> {
    const file = storeFile(this.dataDir, service);
    if (!existsSync(file)) {
      throw new UsageError(`${file} does not exist: no read models of ${service} in ${this.dataDir}`);
    }
    return { store: this.open(this.dataDir, service), description: file };
  }

  async scratch(service: ServiceName, into: string, replace: boolean): Promise<NamedStore> {
    const dir = resolve(into);
    if (dir === resolve(this.dataDir)) {
      throw new UsageError(`--into ${into} is the live data folder; give a scratch folder`);
    }
    const file = storeFile(dir, service);
    const existed = existsSync(file);
    if (existed && !replace) {
      throw new UsageError(`${file} exists: give a fresh folder, or --replace to empty it`);
    }
    const store = this.open(dir, service);
    if (existed) await store.drop();
    return { store, description: file };
  }

  async close(): Promise<void> {
    for (const store of this.opened.splice(0)) await store.close();
  }

  private open(dataDir: string, service: ServiceName): DocumentStore {
    const store = new EmbeddedDocumentStore({ dataDir, name: service, synchronous: 'NORMAL' });
    this.opened.push(store);
    return store;
  }
}

export function openReadModelStores(connection: Connection): ReadModelStores {
  if (connection.mode === 'embedded') return new EmbeddedReadModelStores(connection.dataDir);
  if (!connection.mongoUri) {
    throw new UsageError('the read models are in MongoDB: give --mongo <uri> or set MONGODB_URI');
  }
  return new MongoReadModelStores(connection.mongoUri, connection.databasePrefix);
}
