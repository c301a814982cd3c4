import {
  type Collection,
  type Db,
  MongoBulkWriteError,
  type Filter as MongoFilter,
  MongoServerError,
  type Sort,
} from 'mongodb';
import type {
  Document,
  DocumentCollection,
  DocumentStore,
  Filter,
  FindOptions,
  VersionedDocument,
} from './document-store.port';

interface StoredDocument {
  _id: string;
  [field: string]: unknown;
}

export interface MongoDocumentStoreOptions {
  /**
   * Prefix of this store's collection names; defaults to `projection_`. `drop()` drops exactly the
   * collections that start with it, so the event store in the same database survives a rebuild.
   */
  readonly collectionPrefix?: string;
}

const DUPLICATE_KEY = 11000;

const versionOf = (doc: StoredDocument): number => (typeof doc['version'] === 'number' ? doc['version'] : 0);
const isOlder = (doc: StoredDocument, version: number): boolean => versionOf(doc) < version;
const isNewer = (doc: StoredDocument, than: StoredDocument): boolean => versionOf(doc) > versionOf(than);

/** Read models on MongoDB (or FerretDB). `close()` leaves the `Db`'s client to whoever passed it in. */
export class MongoDocumentStore implements DocumentStore {
  private readonly prefix: string;

  constructor(
    private readonly db: Db,
    options: MongoDocumentStoreOptions = {},
  ) {
    this.prefix = options.collectionPrefix ?? 'projection_';
  }

  collection<T extends Document>(name: string): DocumentCollection<T> {
    return new MongoDocumentCollection<T>(this.db.collection<StoredDocument>(this.prefix + name));
  }

  async drop(): Promise<void> {
    const collections = await this.db.listCollections({}, { nameOnly: true }).toArray();
    for (const { name } of collections) {
      if (name.startsWith(this.prefix) && !name.startsWith('system.')) await this.db.dropCollection(name);
    }
  }

  async close(): Promise<void> {}
}

class MongoDocumentCollection<T extends Document> implements DocumentCollection<T> {
  constructor(private readonly documents: Collection<StoredDocument>) {}

  async get(id: string): Promise<T | null> {
    return (await this.documents.findOne({ _id: id })) as T | null;
  }

  async findOne(filter: Filter<T>): Promise<T | null> {
    return (await this.documents.findOne(filter as MongoFilter<StoredDocument>)) as T | null;
  }

  async find(filter: Filter<T>, options: FindOptions<T> = {}): Promise<T[]> {
    let cursor = this.documents.find(filter as MongoFilter<StoredDocument>);
    if (options.sort) cursor = cursor.sort(options.sort as Sort);
    if (options.limit !== undefined) cursor = cursor.limit(options.limit);
    return (await cursor.toArray()) as T[];
  }

  async put(doc: T): Promise<void> {
    await this.documents.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  /**
   * Only exact-`_id` operations, which every MongoDB-protocol server answers from its primary key
   * (FerretDB on SQLite reads the whole collection for `{_id, version: {$lt}}`): read the stored
   * version; insert when there is none (a duplicate key means a concurrent writer was first: read
   * again); replace when it is lower. A newer version that landed between the read and the replace
   * comes back as the replaced document and is put back, and so is any newer one that landed
   * meanwhile, so the highest version always ends up stored.
   */
  async putIfNewer(doc: T & VersionedDocument): Promise<boolean> {
    for (;;) {
      const stored = await this.documents.findOne({ _id: doc._id }, { projection: { version: 1 } });
      if (!stored) {
        try {
          await this.documents.insertOne(doc as StoredDocument);
          return true;
        } catch (error) {
          if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) continue;
          throw error;
        }
      }
      if (!isOlder(stored, doc.version)) return false;
      const replaced = await this.documents.findOneAndReplace({ _id: doc._id }, doc as StoredDocument);
      if (!replaced) continue;
      if (isOlder(replaced, doc.version)) return true;
      await this.putBack(replaced);
      return false;
    }
  }

  /** Puts `newer` back over an older document, and any still newer one it replaces in turn. */
  private async putBack(newer: StoredDocument): Promise<void> {
    for (let current = newer; ;) {
      const replaced = await this.documents.findOneAndReplace({ _id: current._id }, current);
      if (!replaced || !isNewer(replaced, current)) return;
      current = replaced;
    }
  }

  /**
   * One exact-_id look-up per document, all at once: every MongoDB-protocol server answers those
   * from its primary key, where some (FerretDB) read the whole collection for `$in`.
   */
  async getMany(ids: readonly string[]): Promise<T[]> {
    if (ids.length === 0) return [];
    const found = await Promise.all([...new Set(ids)].map((id) => this.documents.findOne({ _id: id })));
    return found.filter((doc) => doc !== null) as T[];
  }

  async insertNew(docs: readonly T[]): Promise<void> {
    if (docs.length === 0) return;
    try {
      await this.documents.insertMany(docs as unknown as StoredDocument[], { ordered: false });
    } catch (error) {
      const duplicatesOnly =
        error instanceof MongoBulkWriteError &&
        Object.values(error.writeErrors).every((writeError) => writeError.code === DUPLICATE_KEY);
      if (!duplicatesOnly) throw error;
    }
  }

  async putMany(docs: readonly T[]): Promise<void> {
    if (docs.length === 0) return;
    await this.documents.bulkWrite(
      docs.map((doc) => ({
        replaceOne: { filter: { _id: doc._id }, replacement: doc as StoredDocument, upsert: true },
      })),
      { ordered: false },
    );
  }

  async delete(id: string): Promise<void> {
    await this.documents.deleteOne({ _id: id });
  }

  /** One exact-_id delete per document in one bulk write: no server has to scan for `$in`. */
  async deleteIds(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.documents.bulkWrite(
      ids.map((id) => ({ deleteOne: { filter: { _id: id } } })),
      { ordered: false },
    );
  }

  async deleteMany(filter: Filter<T>): Promise<number> {
    return (await this.documents.deleteMany(filter as MongoFilter<StoredDocument>)).deletedCount;
  }

  async ensureIndex(
    fields: readonly (keyof T & string)[],
    options: { unique?: boolean } = {},
  ): Promise<void> {
    await this.documents.createIndex(
      Object.fromEntries(fields.map((field) => [field, 1])),
      options.unique ? { unique: true } : {},
    );
  }
}
