import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  type Document,
  type DocumentStore,
  EmbeddedDocumentStore,
  MongoDocumentStore,
} from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';

/** Every document of each collection a projection writes, by collection, ascending by `_id`. */
export type ProjectionDocuments = Readonly<Record<string, readonly Document[]>>;

/** What `describeProjection` needs to know of a projection. */
export interface ProjectionContract<P, E extends ReceivedEvent<unknown>> {
  /** How the specs name the projection. */
  readonly name: string;
  /** The projection over a store, as its service builds it (same collection names). */
  create(store: DocumentStore): P | Promise<P>;
  /** Gives it one received event, as its consumer does. */
  apply(projection: P, event: E): Promise<unknown>;
  /** Every collection it writes; each must hold documents once the history is applied. */
  readonly collections: readonly string[];
  /** Events as received, in topic order: every event type the projection handles, several accounts. */
  readonly history: readonly E[];
  /**
   * Only for a projection that keeps the order of an aggregate's events: events of an aggregate in
   * the history at an older version than its last there, with other content than the history's
   * event at that version (so only the version can tell them apart). Received after the history,
   * they change nothing.
   */
  readonly stale?: readonly E[];
  /**
   * Fields the projection stamps with this process's clock, each with why: another store fed the
   * same events later cannot hold the same value, so only they are left out when two stores'
   * documents are compared (each must be present). Within one store they must not change.
   */
  readonly clockFields?: Readonly<Record<string, string>>;
  /** What the history folds into: asserted on the documents it left. */
  expectDocuments(documents: ProjectionDocuments): void;
}

/**
 * Builds received events as a topic's consumer gets them: `received(event, aggregateId, version)`,
 * partitioned by `partitionKey` (the aggregate id unless given), at increasing offsets.
 */
export function eventsOn<E extends { readonly $case: string }>(
  topic: string,
  payloadType: string,
): (
  event: E,
  aggregateId: string,
  version: number,
  options?: { readonly occurredAt?: Date; readonly partitionKey?: string },
) => ReceivedEvent<E> {
  let offset = 0;
  return (event, aggregateId, version, options = {}) => ({
    event,
    metadata: {
      eventId: `${aggregateId}@${version}`,
      type: event.$case,
      aggregateId,
      aggregateVersion: version,
      occurredAt: options.occurredAt ?? new Date('2026-11-25T10:00:00.000Z'),
      correlationId: `${aggregateId}@${version}`,
      causationId: `${aggregateId}@${version}`,
      traceparent: '',
      tracestate: '',
      partitionKey: options.partitionKey ?? aggregateId,
      payloadType,
      topic,
      partition: 0,
      offset: String(offset++),
    },
  });
}

interface OpenedStore {
  readonly store: DocumentStore;
  dispose(): Promise<void>;
}

interface Adapter {
  readonly name: string;
  /** A store of its own, empty. */
  open(): Promise<OpenedStore>;
  close(): Promise<void>;
}

function embedded(): Adapter {
  return {
    name: 'embedded',
    async open() {
      const dataDir = await mkdtemp(join(tmpdir(), 'tandem-projection-'));
      const store = new EmbeddedDocumentStore({ dataDir });
      return {
        store,
        dispose: async () => {
          await store.close();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
    close: async () => {},
  };
}

/** On the MongoDB-protocol server the global setup found; without one the run fails, it never skips. */
function mongo(): Adapter {
  let client: Promise<MongoClient> | undefined;
  const connected = () => (client ??= MongoClient.connect(testInfrastructure().mongoUri));
  return {
    name: 'MongoDB protocol',
    async open() {
      const db = (await connected()).db(uniqueName('projection'));
      return { store: new MongoDocumentStore(db), dispose: async () => void (await db.dropDatabase()) };
    },
    async close() {
      if (client) await (await client).close();
    },
  };
}

async function documentsOf(
  store: DocumentStore,
  collections: readonly string[],
): Promise<ProjectionDocuments> {
  const byCollection: Record<string, Document[]> = {};
  for (const name of collections) {
    const documents = await store.collection(name).find({});
    byCollection[name] = documents.sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
  }
  return byCollection;
}

function withoutClockFields(documents: ProjectionDocuments, fields: readonly string[]): ProjectionDocuments {
  return Object.fromEntries(
    Object.entries(documents).map(([name, docs]) => [
      name,
      docs.map((doc) => {
        const kept: Record<string, unknown> = { ...doc };
        for (const field of fields) {
          expect(doc, `${name}/${doc._id} has no ${field}`).toHaveProperty(field);
          delete kept[field];
        }
        return kept as Document;
      }),
    ]),
  );
}

/**
 * The projection contract, over the embedded document store and the MongoDB one: the history
 * folds into the documents the spec expects; every event received twice in a row, and the history
 * received again from any point (a consumer restarting from an older committed offset), leaves
 * the same documents; a fresh store given the same history from scratch ends with equal
 * documents, clock stamps aside; and, where the projection keeps order, an older event after a
 * newer one changes nothing.
 */
export function describeProjection<P, E extends ReceivedEvent<unknown>>(
  contract: ProjectionContract<P, E>,
): void {
  for (const adapter of [embedded(), mongo()]) {
    describe(`the ${contract.name} projection (${adapter.name})`, () => {
      const opened: OpenedStore[] = [];
      const clockFields = Object.keys(contract.clockFields ?? {});
      const fresh = async () => {
        const store = await adapter.open();
        opened.push(store);
        return { store: store.store, projection: await contract.create(store.store) };
      };
      const applyAll = async (projection: P, events: readonly E[]) => {
        for (const event of events) await contract.apply(projection, event);
      };
      const folded = async () => {
        const { store, projection } = await fresh();
        await applyAll(projection, contract.history);
        return { store, projection, documents: await documentsOf(store, contract.collections) };
      };

      afterAll(async () => {
        for (const store of opened.splice(0)) await store.dispose();
        await adapter.close();
      });

      it('folds the history into the documents it should', async () => {
        const { documents } = await folded();
        for (const name of contract.collections) {
          expect(documents[name]?.length, `documents in ${name}`).toBeGreaterThan(0);
        }
        contract.expectDocuments(documents);
      });

      it('leaves the same documents when every event is received twice in a row', async () => {
        const { documents: once } = await folded();
        const { store, projection } = await fresh();
        for (const event of contract.history) {
          await contract.apply(projection, event);
          await contract.apply(projection, event);
        }
        const twice = await documentsOf(store, contract.collections);
        expect(withoutClockFields(twice, clockFields)).toEqual(withoutClockFields(once, clockFields));
      });

      it('leaves the same documents when the history is received again from any point, also after a restart', async () => {
        const { store, projection, documents: once } = await folded();
        for (let from = contract.history.length - 1; from >= 0; from--) {
          await applyAll(projection, contract.history.slice(from));
          expect(await documentsOf(store, contract.collections), `again from event ${from}`).toEqual(once);
        }
        await applyAll(await contract.create(store), contract.history);
        expect(await documentsOf(store, contract.collections)).toEqual(once);
      });

      it('rebuilds equal documents from scratch in a fresh store', async () => {
        const { documents: live } = await folded();
        const { documents: rebuilt } = await folded();
        expect(withoutClockFields(rebuilt, clockFields)).toEqual(withoutClockFields(live, clockFields));
      });

      if (contract.stale) {
        const stale = contract.stale;
        it('changes nothing when an older event comes after a newer one', async () => {
          expect(stale.length).toBeGreaterThan(0);
          for (const { event, metadata } of stale) {
            const ofAggregate = contract.history.filter(
              (e) => e.metadata.aggregateId === metadata.aggregateId,
            );
            const last = Math.max(...ofAggregate.map((e) => e.metadata.aggregateVersion));
            expect(metadata.aggregateVersion, `${metadata.aggregateId}: older than its last`).toBeLessThan(
              last,
            );
            const same = ofAggregate.find((e) => e.metadata.aggregateVersion === metadata.aggregateVersion);
            expect(
              same && isDeepStrictEqual(same.event, event),
              `${metadata.aggregateId}@${metadata.aggregateVersion} differs from the history's`,
            ).not.toBe(true);
          }
          const { store, projection, documents: once } = await folded();
          await applyAll(projection, [...contract.history].reverse());
          expect(await documentsOf(store, contract.collections), 'the history received backwards').toEqual(
            once,
          );
          for (const event of stale) {
            await contract.apply(projection, event);
            expect(await documentsOf(store, contract.collections), JSON.stringify(event)).toEqual(once);
          }
        });
      }
    });
  }
}
