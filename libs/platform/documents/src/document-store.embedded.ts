import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type {
  Document,
  DocumentCollection,
  DocumentStore,
  DocumentValue,
  Filter,
  FindOptions,
  VersionedDocument,
} from './document-store.port';

export interface EmbeddedDocumentStoreOptions {
  /** The data folder; created when missing. */
  readonly dataDir: string;
  /** One file per store: `<name>.documents.sqlite`. Defaults to `read-models`. */
  readonly name?: string;
  /** SQLite's `synchronous` pragma; defaults to FULL. */
  readonly synchronous?: 'FULL' | 'NORMAL';
}

const TABLE_PREFIX = 'documents:';
/** Fields used in filters, sorts and indexes become SQL JSON paths, so they must be plain names. */
const PLAIN_FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Read models of embedded mode: a SQLite file with one table per collection, each row the document's
 * JSON. Filters and sorts run in SQL on `json_extract` (indexable with `ensureIndex`); equality on an
 * object or array field is checked on the parsed documents, comparing their JSON text as MongoDB
 * compares embedded documents (field order matters). Unlike MongoDB, a scalar filter does not match
 * arrays that contain the value.
 */
export class EmbeddedDocumentStore implements DocumentStore {
  private readonly file: StoreFile;

  constructor(options: EmbeddedDocumentStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    const db = new DatabaseSync(join(options.dataDir, `${options.name ?? 'read-models'}.documents.sqlite`));
    db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous ?? 'FULL'}; PRAGMA busy_timeout = 5000;`,
    );
    this.file = { db, generation: 0, statements: new Map() };
  }

  collection<T extends Document>(name: string): DocumentCollection<T> {
    return new EmbeddedDocumentCollection<T>(this.file, name);
  }

  async drop(): Promise<void> {
    const tables = this.file.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?")
      .all(TABLE_PREFIX.length, TABLE_PREFIX) as unknown as { name: string }[];
    this.file.statements.clear();
    for (const { name } of tables) this.file.db.exec(`DROP TABLE ${quoteIdentifier(name)}`);
    this.file.generation += 1;
  }

  async close(): Promise<void> {
    if (this.file.db.isOpen) this.file.db.close();
  }
}

interface StoreFile {
  readonly db: DatabaseSync;
  /** Bumped by `drop()`, so collections know to create their table again. */
  generation: number;
  /** Prepared statements by SQL text, compiled once; `drop()` forgets them with the tables. */
  readonly statements: Map<string, StatementSync>;
}

interface Query {
  readonly where: string;
  readonly parameters: SQLInputValue[];
  /** Equality on object and array fields, checked after SQL. */
  readonly residual: readonly [string, string][];
}

class EmbeddedDocumentCollection<T extends Document> implements DocumentCollection<T> {
  private readonly table: string;
  private createdInGeneration = -1;

  constructor(
    private readonly file: StoreFile,
    private readonly name: string,
  ) {
    this.table = quoteIdentifier(TABLE_PREFIX + name);
  }

  async get(id: string): Promise<T | null> {
    const row = this.statement(`SELECT body FROM ${this.table} WHERE id = ?`).get(id) as
      { body: string } | undefined;
    return row ? (JSON.parse(row.body) as T) : null;
  }

  async findOne(filter: Filter<T>): Promise<T | null> {
    return (await this.find(filter, { limit: 1 }))[0] ?? null;
  }

  async find(filter: Filter<T>, options: FindOptions<T> = {}): Promise<T[]> {
    const query = toQuery(filter);
    const orderBy = Object.entries(options.sort ?? {})
      .map(([field, direction]) => `${fieldExpression(field)} ${direction === -1 ? 'DESC' : 'ASC'}`)
      .concat('id');
    const sqlLimit = query.residual.length === 0 && options.limit !== undefined;
    const rows = this.statement(
      `SELECT body FROM ${this.table} WHERE ${query.where} ORDER BY ${orderBy.join(', ')}${sqlLimit ? ' LIMIT ?' : ''}`,
    ).all(...query.parameters, ...(sqlLimit ? [options.limit!] : [])) as unknown as { body: string }[];
    const documents = rows
      .map((row) => JSON.parse(row.body) as T)
      .filter((doc) => matchesResidual(doc, query));
    return options.limit === undefined ? documents : documents.slice(0, options.limit);
  }

  async put(doc: T): Promise<void> {
    this.statement(
      `INSERT INTO ${this.table} (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body`,
    ).run(doc._id, JSON.stringify(doc));
  }

  async putIfNewer(doc: T & VersionedDocument): Promise<boolean> {
    const { changes } = this.statement(
      `INSERT INTO ${this.table} (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body
         WHERE json_extract(body, '$.version') < json_extract(excluded.body, '$.version')`,
    ).run(doc._id, JSON.stringify(doc));
    return Number(changes) > 0;
  }

  async getMany(ids: readonly string[]): Promise<T[]> {
    if (ids.length === 0) return [];
    const rows = this.statement(
      `SELECT body FROM ${this.table} WHERE id IN (SELECT value FROM json_each(?))`,
    ).all(JSON.stringify(ids)) as unknown as { body: string }[];
    return rows.map((row) => JSON.parse(row.body) as T);
  }

  async insertNew(docs: readonly T[]): Promise<void> {
    this.inTransaction(
      docs,
      `INSERT INTO ${this.table} (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
    );
  }

  async putMany(docs: readonly T[]): Promise<void> {
    this.inTransaction(
      docs,
      `INSERT INTO ${this.table} (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body`,
    );
  }

  async delete(id: string): Promise<void> {
    this.statement(`DELETE FROM ${this.table} WHERE id = ?`).run(id);
  }

  async deleteIds(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.statement(`DELETE FROM ${this.table} WHERE id IN (SELECT value FROM json_each(?))`).run(
      JSON.stringify(ids),
    );
  }

  /** Runs `sql` with each document's id and JSON, all in one transaction. */
  private inTransaction(docs: readonly T[], sql: string): void {
    if (docs.length === 0) return;
    const statement = this.statement(sql);
    const db = this.file.db;
    db.exec('BEGIN');
    try {
      for (const doc of docs) statement.run(doc._id, JSON.stringify(doc));
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }

  async deleteMany(filter: Filter<T>): Promise<number> {
    const query = toQuery(filter);
    if (query.residual.length === 0) {
      const { changes } = this.statement(`DELETE FROM ${this.table} WHERE ${query.where}`).run(
        ...query.parameters,
      );
      return Number(changes);
    }
    const ids = (await this.find(filter)).map((doc) => doc._id);
    this.statement(`DELETE FROM ${this.table} WHERE id IN (SELECT value FROM json_each(?))`).run(
      JSON.stringify(ids),
    );
    return ids.length;
  }

  async ensureIndex(
    fields: readonly (keyof T & string)[],
    options: { unique?: boolean } = {},
  ): Promise<void> {
    const indexName = quoteIdentifier(
      `${TABLE_PREFIX}${this.name}:${fields.join(',')}${options.unique ? ':unique' : ''}`,
    );
    this.db().exec(
      `CREATE ${options.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${indexName}
       ON ${this.table} (${fields.map(fieldExpression).join(', ')})`,
    );
  }

  /** The statement for `sql`, prepared once per table generation. */
  private statement(sql: string): StatementSync {
    const db = this.db();
    let statement = this.file.statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      this.file.statements.set(sql, statement);
    }
    return statement;
  }

  /** The database, with this collection's table created (again, after a drop). */
  private db(): DatabaseSync {
    if (this.createdInGeneration !== this.file.generation) {
      this.file.db.exec(
        `CREATE TABLE IF NOT EXISTS ${this.table} (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID`,
      );
      this.createdInGeneration = this.file.generation;
    }
    return this.file.db;
  }
}

function fieldExpression(field: string): string {
  if (field === '_id') return 'id';
  if (!PLAIN_FIELD.test(field))
    throw new Error(`field ${JSON.stringify(field)} cannot be filtered, sorted or indexed`);
  return `json_extract(body, '$.${field}')`;
}

function typeExpression(field: string): string {
  fieldExpression(field);
  return `json_type(body, '$.${field}')`;
}

function toQuery(filter: Readonly<Record<string, DocumentValue | undefined>>): Query {
  const conditions: string[] = [];
  const parameters: SQLInputValue[] = [];
  const residual: [string, string][] = [];
  for (const [field, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (value === null) {
      conditions.push(`(${typeExpression(field)} IS NULL OR ${typeExpression(field)} = 'null')`);
    } else if (typeof value === 'boolean') {
      conditions.push(`${typeExpression(field)} = '${value ? 'true' : 'false'}'`);
    } else if (typeof value === 'number') {
      conditions.push(`${fieldExpression(field)} = ? AND ${typeExpression(field)} IN ('integer', 'real')`);
      parameters.push(value);
    } else if (typeof value === 'string') {
      conditions.push(
        field === '_id' ? 'id = ?' : `${fieldExpression(field)} = ? AND ${typeExpression(field)} = 'text'`,
      );
      parameters.push(value);
    } else {
      conditions.push(`${typeExpression(field)} = '${Array.isArray(value) ? 'array' : 'object'}'`);
      residual.push([field, JSON.stringify(value)]);
    }
  }
  return { where: conditions.length > 0 ? conditions.join(' AND ') : '1 = 1', parameters, residual };
}

function matchesResidual(doc: Document, query: Query): boolean {
  return query.residual.every(([field, json]) => JSON.stringify(doc[field]) === json);
}
