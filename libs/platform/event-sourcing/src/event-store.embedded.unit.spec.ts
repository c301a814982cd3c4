import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeEventStoreContract } from './event-store.contract';
import { EmbeddedEventStore } from './event-store.embedded';

describeEventStoreContract('embedded', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-event-store-'));
  return {
    open: async (options) => new EmbeddedEventStore({ dataDir, ...options }),
    dispose: () => rm(dataDir, { recursive: true, force: true }),
  };
});
