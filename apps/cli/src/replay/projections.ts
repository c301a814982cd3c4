import { accountEventCodec, AccountsReadModel } from '@tandem/accounts-app';
import { DeviceDirectory, deviceListEventCodec } from '@tandem/auth';
import { BackupListsProjection, backupEventCodec } from '@tandem/backups-app';
import type { DocumentStore } from '@tandem/documents';
import { type EventCodec, fromRecord, type ReceivedEvent } from '@tandem/event-sourcing';
import {
  BlocksProjection,
  DeviceListsProjection,
  fanoutEventCodec,
  InboxesProjection,
  InboxTiers,
} from '@tandem/fanout-app';
import type { IncomingRecord, RecordBatch } from '@tandem/messaging';
import { PresencePrivacy } from '@tandem/presence-app';
import { isService, SERVICES, type ServiceName, UsageError } from './connection';
import { PROJECTION_NAMES } from './projection-names';

/** Replays a service's topic from its beginning to its current end, batch by batch. */
export type Replay = (service: ServiceName, onBatch: (batch: RecordBatch) => Promise<void>) => Promise<void>;

/** The live consumer group that keeps a projection, and the topic it reads. */
export interface LiveGroup {
  readonly service: ServiceName;
  /** The group is `<prefix><service>.<purpose>`. */
  readonly purpose: string;
  readonly topic: ServiceName;
}

/**
 * A projection the CLI can rebuild: built with the same class its service uses, into a store laid
 * out as the service's (same collection names), so the rebuild compares document by document.
 */
export interface ProjectionSpec {
  readonly name: string;
  /** The service whose read models hold it. */
  readonly service: ServiceName;
  /** The topics it is built from, by service. */
  readonly topics: readonly ServiceName[];
  /** The collections compared with the live ones. */
  readonly collections: readonly string[];
  /** Fields that legitimately differ between the live documents and a rebuild, and why. */
  readonly ignoredFields: Readonly<Record<string, string>>;
  readonly liveGroups: readonly LiveGroup[];
  rebuild(store: DocumentStore, replay: Replay): Promise<void>;
}

/** Hands each event of `codec`'s payload type, decoded, to `handle` in log order (as consumeEvents does). */
async function eachEvent<E>(
  records: readonly IncomingRecord[],
  codec: EventCodec<E>,
  handle: (received: ReceivedEvent<E>) => Promise<void>,
): Promise<void> {
  for (const record of records) {
    const { metadata, payload } = fromRecord(record);
    if (metadata.payloadType !== codec.payloadType) continue;
    await handle({ event: codec.decode(payload), metadata });
  }
}

const APPLIED_AT = { appliedAt: 'when the service applied the event (the clock of the moment)' } as const;

/** An inbox entry keeps the trace context of the span that appended it: a replay is another span. */
const TRACE_CONTEXT = {
  traceparent: 'the trace context of the span that appended the entry; a replay is another span',
  tracestate: 'likewise',
} as const;

/** The services that keep a device directory, and the consumer group that writes it. */
const DEVICE_DIRECTORY_GROUPS: Readonly<Partial<Record<ServiceName, string>>> = {
  accounts: 'device-directory',
  linking: 'device-directory',
  backups: 'device-directory',
  media: 'device-directory',
  fanout: 'linking-events',
  presence: 'linking-events',
};

function accountsReadModel(): ProjectionSpec {
  return {
    name: 'accounts',
    service: 'accounts',
    topics: ['accounts'],
    collections: ['accounts', 'phone_numbers'],
    ignoredFields: {},
    liveGroups: [{ service: 'accounts', purpose: 'read-model', topic: 'accounts' }],
    async rebuild(store, replay) {
      const model = new AccountsReadModel(store.collection('accounts'), store.collection('phone_numbers'));
      await replay('accounts', (batch) =>
        eachEvent(batch.records, accountEventCodec, (received) => model.apply(received)),
      );
    },
  };
}

function deviceDirectory(service: ServiceName): ProjectionSpec {
  const purpose = DEVICE_DIRECTORY_GROUPS[service];
  if (!purpose) throw new UsageError(`${service} keeps no device directory`);
  return {
    name: `device-directory of ${service}`,
    service,
    topics: ['linking'],
    collections: ['devices'],
    ignoredFields: APPLIED_AT,
    liveGroups: [{ service, purpose, topic: 'linking' }],
    async rebuild(store, replay) {
      const directory = new DeviceDirectory(store.collection('devices'));
      await replay('linking', (batch) =>
        eachEvent(batch.records, deviceListEventCodec, (received) => directory.apply(received)),
      );
    },
  };
}

function deviceLists(): ProjectionSpec {
  return {
    name: 'device-lists',
    service: 'fanout',
    topics: ['linking'],
    collections: ['device_lists'],
    ignoredFields: {},
    liveGroups: [{ service: 'fanout', purpose: 'linking-events', topic: 'linking' }],
    async rebuild(store, replay) {
      const lists = new DeviceListsProjection(store.collection('device_lists'));
      await replay('linking', (batch) =>
        eachEvent(batch.records, deviceListEventCodec, (received) => lists.apply(received)),
      );
    },
  };
}

function blocks(): ProjectionSpec {
  return {
    name: 'blocks',
    service: 'fanout',
    topics: ['accounts'],
    collections: ['blocks'],
    ignoredFields: {},
    liveGroups: [{ service: 'fanout', purpose: 'accounts-events', topic: 'accounts' }],
    async rebuild(store, replay) {
      const projection = new BlocksProjection(store.collection('blocks'));
      await replay('accounts', (batch) =>
        eachEvent(batch.records, accountEventCodec, (received) => projection.apply(received)),
      );
    },
  };
}

/**
 * Fan-out's inboxes: a plain fold of the fan-out topic, as the inbox owner folds it (its events
 * name the devices they go to and the primary among them, so no other topic is read).
 */
function inboxes(): ProjectionSpec {
  return {
    name: 'inboxes',
    service: 'fanout',
    topics: ['fanout'],
    collections: ['inbox_heads', 'inbox_entries'],
    ignoredFields: TRACE_CONTEXT,
    liveGroups: [{ service: 'fanout', purpose: 'inboxes', topic: 'fanout' }],
    async rebuild(store, replay) {
      const projection = new InboxesProjection(
        new InboxTiers(store.collection('inbox_heads'), store.collection('inbox_entries')),
      );
      await replay('fanout', (batch) => projection.applyBatch(batch));
    },
  };
}

function backupLists(): ProjectionSpec {
  return {
    name: 'backup-lists',
    service: 'backups',
    topics: ['backups'],
    collections: ['backup_lists'],
    ignoredFields: {},
    liveGroups: [{ service: 'backups', purpose: 'backup-lists', topic: 'backups' }],
    async rebuild(store, replay) {
      const lists = new BackupListsProjection(store.collection('backup_lists'));
      await replay('backups', (batch) =>
        eachEvent(batch.records, backupEventCodec, (received) => lists.apply(received)),
      );
    },
  };
}

/**
 * Presence's privacy read models: every account's last-seen visibility and blocks (from the
 * accounts topic) and the pairs of accounts that exchanged messages (from fanout's
 * MessageAccepted). Who is online lives in presence's memory and its compacted topic, not here.
 */
function presencePrivacy(): ProjectionSpec {
  return {
    name: 'presence-privacy',
    service: 'presence',
    topics: ['accounts', 'fanout'],
    collections: ['last_seen_visibility', 'contacts', 'blocks'],
    ignoredFields: {},
    liveGroups: [
      { service: 'presence', purpose: 'accounts-events', topic: 'accounts' },
      { service: 'presence', purpose: 'fanout-events', topic: 'fanout' },
    ],
    async rebuild(store, replay) {
      const privacy = new PresencePrivacy(
        store.collection('last_seen_visibility'),
        store.collection('contacts'),
        store.collection('blocks'),
      );
      await replay('accounts', (batch) =>
        eachEvent(batch.records, accountEventCodec, async (received) => {
          await privacy.apply(received);
        }),
      );
      await replay('fanout', async (batch) => {
        const pairs: [string, string][] = [];
        await eachEvent(batch.records, fanoutEventCodec, async ({ event }) => {
          if (event.$case === 'messageAccepted' && event.value.senderAccountId !== event.value.accountId) {
            pairs.push([event.value.senderAccountId, event.value.accountId]);
          }
        });
        await privacy.learnContacts(pairs);
      });
    },
  };
}

/** The projection by name; the device directory is every service's, so it needs the service. */
export function projectionSpec(name: string, service?: string): ProjectionSpec {
  if (service !== undefined && !isService(service)) {
    throw new UsageError(`--service ${service}: give one of ${SERVICES.join(', ')}`);
  }
  switch (name) {
    case 'accounts':
    case 'accounts-read-model':
      return accountsReadModel();
    case 'device-directory':
      if (service === undefined) {
        throw new UsageError(
          `the device directory is kept by every service: give --service (${Object.keys(DEVICE_DIRECTORY_GROUPS).join(', ')})`,
        );
      }
      return deviceDirectory(service);
    case 'device-lists':
      return deviceLists();
    case 'blocks':
      return blocks();
    case 'inboxes':
      return inboxes();
    case 'backup-lists':
      return backupLists();
    case 'presence':
    case 'presence-privacy':
      return presencePrivacy();
    default:
      throw new UsageError(`no projection ${name}: give one of ${PROJECTION_NAMES.join(', ')}`);
  }
}
