/**
 * The document store port for read models (projections): MongoDB in distributed mode, an embedded
 * persisted store otherwise. Documents are plain JSON-like objects keyed by a string `_id`; field
 * names never contain `.` or start with `$`; bytes are stored as base64 strings.
 */

export type DocumentValue =
  string | number | boolean | null | readonly DocumentValue[] | { readonly [field: string]: DocumentValue };

export interface Document {
  readonly _id: string;
  readonly [field: string]: DocumentValue;
}

/** A projection document that records the version of the source aggregate it reflects. */
export interface VersionedDocument extends Document {
  readonly version: number;
}

/** Equality on top-level fields; all given fields must match. */
export type Filter<T extends Document> = { readonly [K in keyof T]?: T[K] };

export interface FindOptions<T extends Document> {
  readonly sort?: { readonly [K in keyof T]?: 1 | -1 };
  readonly limit?: number;
}

export interface DocumentCollection<T extends Document> {
  get(id: string): Promise<T | null>;
  findOne(filter: Filter<T>): Promise<T | null>;
  find(filter: Filter<T>, options?: FindOptions<T>): Promise<T[]>;
  /** Inserts or replaces the document with this `_id`. */
  put(doc: T): Promise<void>;
  /**
   * Inserts the document, or replaces the stored one only when its `version` is lower.
   * Returns whether anything was written: a redelivered event changes nothing.
   */
  putIfNewer(doc: T & VersionedDocument): Promise<boolean>;
  /** The documents with these ids that exist, in no particular order. */
  getMany(ids: readonly string[]): Promise<T[]>;
  /**
   * Inserts the documents whose `_id` is not stored yet and leaves the stored ones as they are
   * (content that never changes, written again after a redelivery).
   */
  insertNew(docs: readonly T[]): Promise<void>;
  /** Inserts or replaces each document, as `put` does, in one round trip. */
  putMany(docs: readonly T[]): Promise<void>;
  delete(id: string): Promise<void>;
  /** Deletes the documents with these ids; ids not stored are ignored. */
  deleteIds(ids: readonly string[]): Promise<void>;
  deleteMany(filter: Filter<T>): Promise<number>;
  /** Creates an index on top-level fields (idempotent). */
  ensureIndex(fields: readonly (keyof T & string)[], options?: { unique?: boolean }): Promise<void>;
}

export interface DocumentStore {
  collection<T extends Document>(name: string): DocumentCollection<T>;
  /** Drops every collection of this store; used to rebuild projections from scratch. */
  drop(): Promise<void>;
  close(): Promise<void>;
}
