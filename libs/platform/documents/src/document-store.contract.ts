import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Document, DocumentStore } from './document-store.port';

/** Fresh storage for one test; `open` may be called again for a new instance over the same storage. */
export interface DocumentStoreHarness {
  open(): Promise<DocumentStore>;
  dispose(): Promise<void>;
}

interface DeviceDoc extends Document {
  readonly _id: string;
  readonly accountId: string;
  readonly name: string;
  readonly slot: number;
  readonly primary: boolean;
  readonly revokedAt: string | null;
  readonly keys: readonly string[];
  readonly platform: { readonly os: string; readonly version: string };
}

interface DeviceListDoc extends Document {
  readonly _id: string;
  readonly version: number;
  readonly devices: readonly string[];
}

const aDevice = (id: string, overrides: Partial<DeviceDoc> = {}): DeviceDoc => ({
  _id: id,
  accountId: 'account-1',
  name: `device ${id}`,
  slot: 1,
  primary: false,
  revokedAt: null,
  keys: ['k1', 'k2'],
  platform: { os: 'android', version: '15' },
  ...overrides,
});

/** The document store port's contract; every adapter runs it. */
export function describeDocumentStoreContract(
  adapter: string,
  createHarness: () => Promise<DocumentStoreHarness>,
): void {
  describe(`the ${adapter} document store`, () => {
    let harness: DocumentStoreHarness;
    let store: DocumentStore;
    const opened: DocumentStore[] = [];
    const open = async (): Promise<DocumentStore> => {
      const instance = await harness.open();
      opened.push(instance);
      return instance;
    };

    beforeEach(async () => {
      harness = await createHarness();
      store = await open();
    });

    afterEach(async () => {
      for (const instance of opened.splice(0)) await instance.close();
      await harness.dispose();
    });

    describe('when a projection puts documents', () => {
      it('gets them back whole: nested objects, arrays, booleans and nulls', async () => {
        const devices = store.collection<DeviceDoc>('devices');
        const device = aDevice('d1', { primary: true, slot: 0 });

        await devices.put(device);

        expect(await devices.get('d1')).toEqual(device);
        expect(await devices.get('missing')).toBeNull();
      });

      it('replaces the document with the same id', async () => {
        const devices = store.collection<DeviceDoc>('devices');
        await devices.put(aDevice('d1', { name: 'old' }));

        await devices.put(aDevice('d1', { name: 'new' }));

        expect((await devices.get('d1'))?.name).toBe('new');
        expect(await devices.find({})).toHaveLength(1);
      });

      it('keeps collections apart', async () => {
        await store.collection<DeviceDoc>('devices').put(aDevice('same-id'));

        expect(await store.collection<DeviceDoc>('other').get('same-id')).toBeNull();
      });
    });

    describe('when a query filters, sorts and limits', () => {
      beforeEach(async () => {
        const devices = store.collection<DeviceDoc>('devices');
        await devices.put(aDevice('d1', { slot: 3, primary: true }));
        await devices.put(aDevice('d2', { slot: 1, revokedAt: '2026-11-01T00:00:00Z' }));
        await devices.put(aDevice('d3', { slot: 2, platform: { os: 'ios', version: '18' } }));
        await devices.put(aDevice('d4', { slot: 4, accountId: 'account-2', keys: ['k9'] }));
      });

      it('matches every given top-level field', async () => {
        const devices = store.collection<DeviceDoc>('devices');

        const ids = async (filter: Parameters<typeof devices.find>[0]) =>
          (await devices.find(filter, { sort: { _id: 1 } })).map((doc) => doc._id);

        expect(await ids({ accountId: 'account-1' })).toEqual(['d1', 'd2', 'd3']);
        expect(await ids({ accountId: 'account-1', primary: false })).toEqual(['d2', 'd3']);
        expect(await ids({ primary: true })).toEqual(['d1']);
        expect(await ids({ revokedAt: null })).toEqual(['d1', 'd3', 'd4']);
        expect(await ids({ slot: 2 })).toEqual(['d3']);
        expect(await ids({ _id: 'd4' })).toEqual(['d4']);
        expect(await ids({ platform: { os: 'ios', version: '18' } })).toEqual(['d3']);
        expect(await ids({ keys: ['k9'] })).toEqual(['d4']);
        expect(await ids({ accountId: 'account-3' })).toEqual([]);
      });

      it('tells a number from a string holding the same digits', async () => {
        const devices = store.collection<DeviceDoc>('devices');
        await devices.put(aDevice('d5', { name: '2' }));

        expect((await devices.find({ name: '2' })).map((doc) => doc._id)).toEqual(['d5']);
        expect((await devices.find({ slot: 2 })).map((doc) => doc._id)).toEqual(['d3']);
      });

      it('sorts ascending or descending and takes the first ones', async () => {
        const devices = store.collection<DeviceDoc>('devices');

        const ascending = await devices.find({}, { sort: { slot: 1 } });
        const topTwo = await devices.find({ accountId: 'account-1' }, { sort: { slot: -1 }, limit: 2 });

        expect(ascending.map((doc) => doc._id)).toEqual(['d2', 'd3', 'd1', 'd4']);
        expect(topTwo.map((doc) => doc._id)).toEqual(['d1', 'd3']);
      });

      it('finds one document, or none', async () => {
        const devices = store.collection<DeviceDoc>('devices');

        expect((await devices.findOne({ primary: true }))?._id).toBe('d1');
        expect(await devices.findOne({ accountId: 'account-9' })).toBeNull();
      });

      it('deletes one document, or all that match and says how many', async () => {
        const devices = store.collection<DeviceDoc>('devices');

        await devices.delete('d1');
        await devices.delete('never-there');
        const deleted = await devices.deleteMany({ accountId: 'account-1' });

        expect(deleted).toBe(2);
        expect((await devices.find({})).map((doc) => doc._id)).toEqual(['d4']);
        expect(await devices.deleteMany({ accountId: 'account-1' })).toBe(0);
      });
    });

    describe('when a projection writes and reads in batches', () => {
      interface EntryDoc extends Document {
        readonly _id: string;
        readonly body: string;
      }

      const seeded = async () => {
        const entries = store.collection<EntryDoc>('entries');
        await entries.putMany(['e1', 'e2', 'e3', 'e4'].map((id) => ({ _id: id, body: `body of ${id}` })));
        return entries;
      };

      it('gets the documents that exist among the ids asked for', async () => {
        const entries = await seeded();

        const found = await entries.getMany(['e3', 'missing', 'e1']);

        expect(found.sort((a, b) => a._id.localeCompare(b._id))).toEqual([
          { _id: 'e1', body: 'body of e1' },
          { _id: 'e3', body: 'body of e3' },
        ]);
        expect(await entries.getMany([])).toEqual([]);
      });

      it('inserts only documents not stored yet, so a redelivered batch changes nothing', async () => {
        const entries = store.collection<EntryDoc>('entries');
        await entries.insertNew([
          { _id: 'e1', body: 'first' },
          { _id: 'e2', body: 'second' },
        ]);

        await entries.insertNew([
          { _id: 'e2', body: 'changed' },
          { _id: 'e3', body: 'third' },
        ]);

        expect(await entries.find({}, { sort: { _id: 1 } })).toEqual([
          { _id: 'e1', body: 'first' },
          { _id: 'e2', body: 'second' },
          { _id: 'e3', body: 'third' },
        ]);
      });

      it('puts many documents at once, replacing those with the same id', async () => {
        const entries = store.collection<EntryDoc>('entries');
        await entries.put({ _id: 'e1', body: 'old' });

        await entries.putMany([
          { _id: 'e1', body: 'new' },
          { _id: 'e2', body: 'added' },
        ]);

        expect(await entries.find({}, { sort: { _id: 1 } })).toEqual([
          { _id: 'e1', body: 'new' },
          { _id: 'e2', body: 'added' },
        ]);
      });

      it('deletes by ids, ignoring ids not stored', async () => {
        const entries = await seeded();

        await entries.deleteIds(['e1', 'e4', 'never-there']);
        await entries.deleteIds([]);

        expect((await entries.find({}, { sort: { _id: 1 } })).map((doc) => doc._id)).toEqual(['e2', 'e3']);
      });
    });

    describe('when the same event is applied with putIfNewer', () => {
      it('writes a document that is not there yet', async () => {
        const lists = store.collection<DeviceListDoc>('device_lists');

        expect(await lists.putIfNewer({ _id: 'account-1', version: 1, devices: ['d1'] })).toBe(true);

        expect(await lists.get('account-1')).toEqual({ _id: 'account-1', version: 1, devices: ['d1'] });
      });

      it('changes nothing when the same version comes again', async () => {
        const lists = store.collection<DeviceListDoc>('device_lists');
        await lists.putIfNewer({ _id: 'account-1', version: 2, devices: ['d1', 'd2'] });

        expect(await lists.putIfNewer({ _id: 'account-1', version: 2, devices: ['redelivered'] })).toBe(
          false,
        );

        expect(await lists.get('account-1')).toEqual({ _id: 'account-1', version: 2, devices: ['d1', 'd2'] });
      });

      it('ignores an older version and takes a newer one', async () => {
        const lists = store.collection<DeviceListDoc>('device_lists');
        await lists.putIfNewer({ _id: 'account-1', version: 5, devices: ['d5'] });

        expect(await lists.putIfNewer({ _id: 'account-1', version: 4, devices: ['d4'] })).toBe(false);
        expect(await lists.putIfNewer({ _id: 'account-1', version: 6, devices: ['d6'] })).toBe(true);

        expect(await lists.get('account-1')).toEqual({ _id: 'account-1', version: 6, devices: ['d6'] });
      });

      it('lets exactly one of two concurrent writers of the same version win', async () => {
        const lists = store.collection<DeviceListDoc>('device_lists');
        const other = (await open()).collection<DeviceListDoc>('device_lists');

        const results = await Promise.all([
          lists.putIfNewer({ _id: 'account-1', version: 1, devices: ['left'] }),
          other.putIfNewer({ _id: 'account-1', version: 1, devices: ['right'] }),
        ]);

        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await lists.get('account-1'))?.version).toBe(1);
      });
    });

    describe('when a projection declares indexes', () => {
      it('can declare the same index again', async () => {
        const devices = store.collection<DeviceDoc>('devices');

        await devices.ensureIndex(['accountId', 'slot']);
        await devices.ensureIndex(['accountId', 'slot']);
        await devices.put(aDevice('d1'));

        expect(await devices.find({ accountId: 'account-1', slot: 1 })).toHaveLength(1);
      });

      it('refuses a second document with the same unique value', async () => {
        const devices = store.collection<DeviceDoc>('devices');
        await devices.ensureIndex(['accountId', 'slot'], { unique: true });
        await devices.put(aDevice('d1', { slot: 1 }));

        await expect(devices.put(aDevice('d2', { slot: 1 }))).rejects.toThrow();

        await devices.put(aDevice('d2', { slot: 2 }));
        expect((await devices.find({}, { sort: { _id: 1 } })).map((doc) => doc._id)).toEqual(['d1', 'd2']);
      });
    });

    describe('when a projection is rebuilt', () => {
      it('drop() empties every collection, which stay usable', async () => {
        const devices = store.collection<DeviceDoc>('devices');
        const lists = store.collection<DeviceListDoc>('device_lists');
        await devices.put(aDevice('d1'));
        await lists.put({ _id: 'account-1', version: 3, devices: [] });

        await store.drop();

        expect(await devices.find({})).toEqual([]);
        expect(await lists.get('account-1')).toBeNull();
        expect(await lists.putIfNewer({ _id: 'account-1', version: 1, devices: ['d1'] })).toBe(true);
        expect((await lists.get('account-1'))?.version).toBe(1);
      });
    });

    describe('when the store is opened again', () => {
      it('a new instance sees every document', async () => {
        await store.collection<DeviceDoc>('devices').put(aDevice('d1'));
        await store.close();

        const reopened = await open();

        expect(await reopened.collection<DeviceDoc>('devices').get('d1')).toEqual(aDevice('d1'));
      });
    });
  });
}
