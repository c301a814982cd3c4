import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@tandem/messaging';
import { EmbeddedEventStore } from './event-store.embedded';
import { describeOutboxRelayContract } from './outbox-relay.contract';

describeOutboxRelayContract('the embedded store and log', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-relay-'));
  const store = new EmbeddedEventStore({ dataDir, name: 'relay-test' });
  const log = new EmbeddedEventLog({ dataDir, retryBackoff: { initialMs: 20, maxMs: 200 } });
  return {
    store,
    log,
    name: (prefix) => `${prefix}-${randomUUID()}`,
    deliveryTimeoutMs: 3_000,
    dispose: async () => {
      await log.close();
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
