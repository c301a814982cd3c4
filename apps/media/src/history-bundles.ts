import { randomBytes, randomUUID } from 'node:crypto';
import { HistoryBundleEndReason } from '@tandem/contracts/tandem/media/v1/events';
import type { DeviceDirectory } from '@tandem/auth';
import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import {
  causedBy,
  type CommandContext,
  CommandHandler,
  type CommandResult,
  type EventStore,
  type ReceivedEvent,
} from '@tandem/event-sourcing';
import {
  type BundleActor,
  type HistoryBundleCommand,
  historyBundleDecider,
  type HistoryBundleState,
  type MediaActor,
  type MediaDomainEvent,
} from '@tandem/media-domain';
import { mediaEventCodec } from './media.codecs';
import type { MediaCommands } from './media.commands';

type Result = CommandResult<MediaDomainEvent, HistoryBundleState>;

/** The history bundles write side: one stream per bundle id in the media event store. */
export class HistoryBundleCommands {
  readonly bundles: CommandHandler<HistoryBundleCommand, MediaDomainEvent, HistoryBundleState>;

  constructor(
    store: EventStore,
    private readonly media: MediaCommands,
    private readonly directory: DeviceDirectory,
    private readonly ttlSeconds: number,
    onAppended: () => void,
  ) {
    this.bundles = new CommandHandler(store, historyBundleDecider, mediaEventCodec, { onAppended });
  }

  async state(bundleId: string): Promise<HistoryBundleState> {
    return (await this.bundles.load(bundleId)).state;
  }

  /** Looks up the companion and each part's blob, then lets the decider judge. */
  async announce(
    by: BundleActor,
    deviceId: number,
    mediaIds: readonly string[],
    context: CommandContext,
  ): Promise<Result> {
    const bundleId = randomBytes(16).toString('base64url');
    const device = await this.directory.find(by.accountId, deviceId);
    const parts = await Promise.all(
      mediaIds.map(async (mediaId) => ({ mediaId, media: await this.media.state(mediaId) })),
    );
    return this.bundles.handle(
      bundleId,
      {
        type: 'AnnounceHistoryBundle',
        bundleId,
        by: { accountId: by.accountId, deviceId: by.deviceId, primary: by.primary },
        deviceId,
        deviceIsLinkedCompanion: device !== null && device.linked && !device.primary,
        parts,
        ttlSeconds: this.ttlSeconds,
        now: new Date(),
      },
      context,
    );
  }

  receive(bundleId: string, by: MediaActor, mediaId: string, context: CommandContext): Promise<Result> {
    return this.bundles.handle(
      bundleId,
      {
        type: 'ReceiveHistoryBundlePart',
        by: { accountId: by.accountId, deviceId: by.deviceId },
        mediaId,
        now: new Date(),
      },
      context,
    );
  }

  expire(bundleId: string, now: Date, context: CommandContext): Promise<Result> {
    return this.bundles.handle(bundleId, { type: 'ExpireHistoryBundle', now }, context);
  }

  cancel(bundleId: string, unlinkedDeviceId: number, now: Date, context: CommandContext): Promise<Result> {
    return this.bundles.handle(bundleId, { type: 'CancelHistoryBundle', unlinkedDeviceId, now }, context);
  }
}

/** One history bundle as the bundle index knows it. */
export interface HistoryBundleRecord extends VersionedDocument {
  readonly accountId: string;
  readonly deviceId: number;
  readonly open: boolean;
  /** ISO 8601. */
  readonly expiresAt: string;
}

const endReasons: Readonly<Record<number, string>> = {
  [HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_RECEIVED]: 'received',
  [HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_EXPIRED]: 'expired',
  [HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_DEVICE_UNLINKED]: 'its device was unlinked',
};

/**
 * What follows a history bundle's events, from tandem.media.events: the bundle index (open
 * bundles by expiry and by companion, for the sweep and for unlinking), and the end of a bundle,
 * which discards its parts (their bytes then go with the blob janitor). Idempotent: the index
 * keeps the bundle's version, and discarding a part twice records nothing.
 */
export class HistoryBundleFollower {
  constructor(
    private readonly index: DocumentCollection<HistoryBundleRecord>,
    private readonly media: MediaCommands,
    private readonly bundles: HistoryBundleCommands,
  ) {}

  async apply({ event, metadata }: ReceivedEvent<MediaDomainEvent>): Promise<void> {
    if (event.$case === 'historyBundleAnnounced') {
      const { value } = event;
      await this.index.putIfNewer({
        _id: value.bundleId,
        accountId: value.accountId,
        deviceId: value.deviceId,
        open: true,
        expiresAt: (value.expiresAt ?? new Date(0)).toISOString(),
        version: metadata.aggregateVersion,
      });
    } else if (event.$case === 'historyBundleEnded') {
      const { value } = event;
      await this.index.putIfNewer({
        _id: value.bundleId,
        accountId: value.accountId,
        deviceId: value.deviceId,
        open: false,
        expiresAt: '',
        version: metadata.aggregateVersion,
      });
      const reason = `history bundle ${value.bundleId} ended: ${endReasons[value.reason] ?? 'unknown'}`;
      for (const mediaId of value.mediaIds) {
        await this.media.discard(mediaId, reason, value.endedAt ?? new Date(), causedBy(metadata));
      }
    }
  }

  /** A device was unlinked: the open bundles for it end. */
  async deviceUnlinked(
    accountId: string,
    deviceId: number,
    at: Date,
    context: CommandContext,
  ): Promise<void> {
    for (const bundle of await this.index.find({ accountId, deviceId, open: true })) {
      await this.bundles.cancel(bundle._id, deviceId, at, context);
    }
  }

  /** Open bundles past their expiry end as expired. */
  async sweep(now: Date): Promise<void> {
    const context = { correlationId: randomUUID(), causationId: randomUUID() };
    for (const bundle of await this.index.find({ open: true })) {
      if (new Date(bundle.expiresAt).getTime() <= now.getTime())
        await this.bundles.expire(bundle._id, now, context);
    }
  }
}
