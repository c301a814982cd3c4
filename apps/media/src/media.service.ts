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
  relayWorker,
  type TandemService,
} from '@tandem/runtime';
import { deviceListEventCodec, mediaEventCodec } from './media.codecs';
import { MediaCommands } from './media.commands';
import { MEDIA_LOGGER, MediaGrpcController } from './media.grpc-controller';
import { MediaUploads } from './media-uploads';

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
 * blob store its bytes live in, and the device directory it authenticates devices with
 * (tandem.linking.events).
 */
export async function mediaService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, config } = infrastructure;
  const store = await infrastructure.eventStore('media');
  const documents = await infrastructure.documents('media');
  const topic = infrastructure.topic('media');
  const linkingTopic = infrastructure.topic('linking');
  const blobs = openBlobStore(infrastructure);

  const relay = outboxRelay(infrastructure, store, topic, mediaEventCodec.payloadType);
  const commands = new MediaCommands(store, config.media, () => relay.wake());
  const uploads = new MediaUploads(commands, blobs);
  const directory = new DeviceDirectory(documents.collection('devices'));

  return {
    name: 'media',
    grpc: {
      package: 'tandem.media.v1',
      protoFile: 'tandem/media/v1/media_service.proto',
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
        ...deviceAuthProviders(deviceTokens(infrastructure), directory),
      ],
    },
    topics: [topic, linkingTopic],
    setUp: async () => blobs.ensureBucket?.(),
    workers: [
      relayWorker('media.relay', relay),
      consumerWorker('media.device-directory', eventLog, {
        groupId: infrastructure.groupId('media', 'device-directory'),
        topic: linkingTopic.name,
        codec: deviceListEventCodec,
        handle: (received) => directory.apply(received),
      }),
      { name: 'media.blob-store', start: async () => undefined, stop: () => blobs.close() },
    ],
  };
}
