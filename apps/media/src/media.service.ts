import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { DeviceDirectory } from '@tandem/auth';
import { BLOB_STORE, type BlobStore, FilesystemBlobStore, S3BlobStore } from '@tandem/blobs';
import {
  consumerWorker,
  deviceAuthProviders,
  deviceTokens,
  type Infrastructure,
  outboxRelay,
  periodicWorker,
  relayWorker,
  type TandemService,
} from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { BlobJanitor } from './blob-janitor.consumer';
import { BackupReferencesProjection } from './backup-references.projection';
import { accountEventCodec, backupEventCodec, deviceListEventCodec, mediaEventCodec } from './media.codecs';
import { MediaBlocksProjection } from './media-blocks.projection';
import { MediaExpiry } from './media-expiry';
import { MediaIndexProjection } from './media-index.projection';
import { HistoryBundleCommands, HistoryBundleFollower } from './history-bundles';
import { causedBy } from '@tandem/event-sourcing';
import { MediaCommands } from './media.commands';
import { MEDIA_LOGGER, MediaGrpcController } from './media.grpc-controller';
import { MediaUploads } from './media-uploads';
import { MediaServiceService } from '@tandem/contracts/tandem/media/v1/media_service';

@Module({})
class MediaModule {}

/**
 * Where the service keeps blobs: the S3-compatible object store the configuration names, else a
 * folder in the data folder.
 */
export function openBlobStore({
  config,
}: Infrastructure): BlobStore & { ensureBucket?: () => Promise<void> } {
  const { s3 } = config.media;
  if (!s3) return new FilesystemBlobStore(join(config.dataDir, 'media'));
  return new S3BlobStore({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    credentials: s3.credentials,
    forcePathStyle: s3.forcePathStyle,
  });
}

/**
 * The media service: each blob's aggregate (event store and relay to tandem.media.events), the
 * blob store its bytes live in, the device directory it authenticates devices with
 * (tandem.linking.events), and the media kept backups reference (tandem.backups.events).
 */
export async function mediaService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, config } = infrastructure;
  const store = await infrastructure.eventStore('media');
  const documents = await infrastructure.documents('media');
  const topic = infrastructure.topic('media');
  const linkingTopic = infrastructure.topic('linking');
  const accountsTopic = infrastructure.topic('accounts');
  const backupsTopic = infrastructure.topic('backups');
  const blobs = openBlobStore(infrastructure);

  const relay = outboxRelay(infrastructure, store, topic, mediaEventCodec.payloadType);
  const commands = new MediaCommands(store, config.media, () => relay.wake());
  const uploads = new MediaUploads(commands, blobs);
  const directory = new DeviceDirectory(documents.collection('devices'));
  const index = new MediaIndexProjection(documents.collection('media_index'));
  const blocks = new MediaBlocksProjection(documents.collection('blocks'));
  const janitor = new BlobJanitor(blobs, commands, index);
  const accountsEvents = new AccountsEventsConsumer(commands, index);
  const bundleCommands = new HistoryBundleCommands(
    store,
    commands,
    directory,
    config.media.historyTtlSeconds,
    () => relay.wake(),
  );
  const bundles = new HistoryBundleFollower(
    documents.collection('history_bundles'),
    commands,
    bundleCommands,
  );
  const references = new BackupReferencesProjection(documents.collection('backup_references'));
  const expiry = new MediaExpiry(commands, index, references);

  return {
    name: 'media',
    grpc: {
      package: 'tandem.media.v1',
      definition: MediaServiceService,
      serviceName: 'tandem.media.v1.MediaService',
    },
    module: {
      module: MediaModule,
      controllers: [MediaGrpcController],
      providers: [
        { provide: MediaCommands, useValue: commands },
        { provide: MediaUploads, useValue: uploads },
        { provide: BLOB_STORE, useValue: blobs },
        { provide: MEDIA_LOGGER, useValue: infrastructure.logger },
        { provide: MediaIndexProjection, useValue: index },
        { provide: MediaBlocksProjection, useValue: blocks },
        { provide: HistoryBundleCommands, useValue: bundleCommands },
        ...deviceAuthProviders(deviceTokens(infrastructure), directory),
      ],
    },
    topics: [topic, linkingTopic, accountsTopic, backupsTopic],
    setUp: async () => {
      await blobs.ensureBucket?.();
      await references.ensureIndexes();
      await index.ensureIndexes();
    },
    workers: [
      relayWorker('media.relay', relay),
      consumerWorker('media.device-directory', eventLog, {
        groupId: infrastructure.groupId('media', 'device-directory'),
        topic: linkingTopic.name,
        codec: deviceListEventCodec,
        handle: async (received) => {
          await directory.apply(received);
          const { event, metadata } = received;
          if (event.$case === 'deviceUnlinked') {
            await bundles.deviceUnlinked(
              event.value.accountId,
              event.value.deviceId,
              metadata.occurredAt,
              causedBy(metadata),
            );
          }
        },
      }),
      consumerWorker('media.history-bundles', eventLog, {
        groupId: infrastructure.groupId('media', 'history-bundles'),
        topic: topic.name,
        codec: mediaEventCodec,
        handle: (received) => bundles.apply(received),
      }),
      consumerWorker('media.media-index', eventLog, {
        groupId: infrastructure.groupId('media', 'media-index'),
        topic: topic.name,
        codec: mediaEventCodec,
        handle: (received) => index.apply(received),
      }),
      consumerWorker('media.blob-janitor', eventLog, {
        groupId: infrastructure.groupId('media', 'blob-janitor'),
        topic: topic.name,
        codec: mediaEventCodec,
        handle: (received) => janitor.apply(received),
      }),
      consumerWorker('media.accounts-events', eventLog, {
        groupId: infrastructure.groupId('media', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: async (received) => {
          await blocks.apply(received);
          await accountsEvents.apply(received);
        },
      }),
      consumerWorker('media.backup-references', eventLog, {
        groupId: infrastructure.groupId('media', 'backup-references'),
        topic: backupsTopic.name,
        codec: backupEventCodec,
        handle: (received) => references.apply(received),
      }),
      periodicWorker(
        'media.expiry',
        config.media.sweepIntervalSeconds * 1000,
        () => expiry.sweep().then(() => undefined),
        (error) => infrastructure.logger.error({ err: error }, 'media expiry sweep failed'),
      ),
      // History bundles live an hour: swept every minute (or as often as the other media).
      periodicWorker(
        'media.history-bundle-expiry',
        Math.min(config.media.sweepIntervalSeconds, 60) * 1000,
        () => bundles.sweep(new Date()),
        (error) => infrastructure.logger.error({ err: error }, 'history bundle expiry sweep failed'),
      ),
      { name: 'media.blob-store', start: async () => undefined, stop: () => blobs.close() },
    ],
  };
}
