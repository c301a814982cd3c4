import { MediaServiceService } from '@tandem/contracts/tandem/media/v1/media_service';
import { BlocksProjection, blocksProjection } from '@tandem/accounts-events';
import { deviceDirectoryProjection } from '@tandem/linking-events';
import { join } from 'node:path';
import { BLOB_STORE, openBlobStore } from '@tandem/blobs';
import { defineService, eventFeed } from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { BlobJanitor } from './blob-janitor.consumer';
import { backupReferences } from './backup-references.projection';
import { accountEventCodec, deviceListEventCodec, mediaEventCodec } from './media.codecs';
import { MediaExpiry } from './media-expiry';
import { MediaIndexProjection, mediaIndex } from './media-index.projection';
import { HistoryBundleCommands, HistoryBundleDepartures, HistoryBundleFollower } from './history-bundles';
import { MediaCommands } from './media.commands';
import { MEDIA_LOGGER, MediaGrpcController } from './media.grpc-controller';
import { MediaUploads } from './media-uploads';

const deviceDirectory = deviceDirectoryProjection('device-directory');
const mediaBlocks = blocksProjection('media-blocks', 'accounts-events');

/**
 * The media service: each blob's aggregate (event store and relay to tandem.media.events), the
 * blob store its bytes live in, the device directory it authenticates devices with
 * (tandem.linking.events), and the media kept backups reference (tandem.backups.events).
 */
export const mediaService = defineService({
  name: 'media',
  grpc: MediaServiceService,
  controllers: [MediaGrpcController],
  payloads: [mediaEventCodec],
  events: { payloadType: mediaEventCodec.payloadType },
  build(service) {
    const { config, documents } = service;
    const store = service.eventStore();
    const blobs = openBlobStore(config.media.s3, join(config.dataDir, 'media'));
    const commands = new MediaCommands(store, config.media, service.onAppended);
    const directory = service.projection(deviceDirectory);
    const index = service.projection(mediaIndex);
    const bundleCommands = new HistoryBundleCommands(
      store,
      commands,
      directory,
      config.media.historyTtlSeconds,
      service.onAppended,
    );
    const bundles = new HistoryBundleFollower(
      documents.collection('history_bundles'),
      commands,
      bundleCommands,
    );
    const references = service.projection(backupReferences);
    return {
      blobs,
      commands,
      uploads: new MediaUploads(commands, blobs),
      directory,
      index,
      blocks: service.projection(mediaBlocks),
      janitor: new BlobJanitor(blobs, commands, index),
      accountsEvents: new AccountsEventsConsumer(commands, index),
      bundleCommands,
      bundles,
      bundleDepartures: new HistoryBundleDepartures(bundles),
      references,
      expiry: new MediaExpiry(commands, index, references),
    };
  },
  projections: [deviceDirectory, mediaIndex, mediaBlocks, backupReferences],
  consumers: [
    {
      name: 'history-bundles-of-departed-devices',
      feed: eventFeed('linking', 'device-directory', deviceListEventCodec),
      handler: (parts) => parts.bundleDepartures,
    },
    {
      name: 'history-bundles',
      feed: eventFeed('media', 'history-bundles', mediaEventCodec),
      handler: (parts) => parts.bundles,
    },
    {
      name: 'blob-janitor',
      feed: eventFeed('media', 'blob-janitor', mediaEventCodec),
      handler: (parts) => parts.janitor,
    },
    {
      name: 'purge-deleted-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts) => parts.accountsEvents,
    },
  ],
  jobs: [
    {
      name: 'expiry',
      intervalMs: (config) => config.media.sweepIntervalSeconds * 1000,
      run: ({ expiry }) => expiry.sweep(),
    },
    {
      // History bundles live an hour: swept every minute (or as often as the other media).
      name: 'history-bundle-expiry',
      intervalMs: (config) => Math.min(config.media.sweepIntervalSeconds, 60) * 1000,
      run: ({ bundles }) => bundles.sweep(new Date()),
    },
  ],
  providers: (parts, { logger }) => [
    { provide: MediaCommands, useValue: parts.commands },
    { provide: MediaUploads, useValue: parts.uploads },
    { provide: BLOB_STORE, useValue: parts.blobs },
    { provide: MEDIA_LOGGER, useValue: logger },
    { provide: MediaIndexProjection, useValue: parts.index },
    { provide: BlocksProjection, useValue: parts.blocks },
    { provide: HistoryBundleCommands, useValue: parts.bundleCommands },
  ],
  devices: ({ directory }) => directory,
  workers: ({ blobs }) => [
    { name: 'media.blob-store', start: async () => undefined, stop: () => blobs.close() },
  ],
  async setUp({ blobs, references, index }) {
    await blobs.ensureBucket?.();
    await references.ensureIndexes();
    await index.ensureIndexes();
  },
});
