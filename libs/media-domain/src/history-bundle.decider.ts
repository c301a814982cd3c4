/**
 * A history bundle: one aggregate per bundle (stream id = bundle id; events keyed by the account).
 * Invariants:
 * - only the primary announces one, for a companion that is linked to the account now, with 1 to
 *   64 parts, each a different blob the account uploaded completely;
 * - only that companion confirms parts, each once, and only parts of the bundle; the bundle ends
 *   as received with its last part;
 * - a bundle not received by its expiry (an hour after the announcement) ends as expired, and one
 *   whose companion is unlinked ends as such, once; an ended bundle takes no more confirmations.
 */
import {
  alreadyExists,
  assertNever,
  type Decider,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
} from '@tandem/decider';
import { HistoryBundleEndReason } from '@tandem/contracts/tandem/media/v1/events';
import type { MediaActor, MediaDomainEvent, MediaState } from './media.decider';

export const historyBundleLimits = { maxParts: 64 } as const;

export interface BundlePart {
  readonly mediaId: string;
  readonly sizeBytes: number;
  readonly sha256: Uint8Array;
}

export interface OpenBundle {
  readonly status: 'open';
  readonly bundleId: string;
  readonly accountId: string;
  readonly deviceId: number;
  readonly parts: readonly BundlePart[];
  readonly received: ReadonlySet<string>;
  readonly expiresAt: Date;
}

export interface EndedBundle extends Omit<OpenBundle, 'status'> {
  readonly status: 'ended';
  readonly reason: HistoryBundleEndReason;
}

export type HistoryBundleState = { readonly status: 'none' } | OpenBundle | EndedBundle;

/** The announcing device, as its token and the device directory say. */
export interface BundleActor extends MediaActor {
  readonly primary: boolean;
}

export interface AnnounceHistoryBundle {
  readonly type: 'AnnounceHistoryBundle';
  readonly bundleId: string;
  readonly by: BundleActor;
  readonly deviceId: number;
  /** Whether `deviceId` is a companion linked to the account now (a lookup). */
  readonly deviceIsLinkedCompanion: boolean;
  /** The parts in order, each with its media's state (lookups). */
  readonly parts: readonly { readonly mediaId: string; readonly media: MediaState }[];
  /** How long the companion has to receive it (configuration, an hour by default). */
  readonly ttlSeconds: number;
  readonly now: Date;
}

export interface ReceiveHistoryBundlePart {
  readonly type: 'ReceiveHistoryBundlePart';
  readonly by: MediaActor;
  readonly mediaId: string;
  readonly now: Date;
}

export interface ExpireHistoryBundle {
  readonly type: 'ExpireHistoryBundle';
  readonly now: Date;
}

/** A device of the account was unlinked. */
export interface CancelHistoryBundle {
  readonly type: 'CancelHistoryBundle';
  readonly unlinkedDeviceId: number;
  readonly now: Date;
}

export type HistoryBundleCommand =
  AnnounceHistoryBundle | ReceiveHistoryBundlePart | ExpireHistoryBundle | CancelHistoryBundle;

/** The bundle as `by` may see it: its companion's and its account's primary's. */
export function requireBundleFor(state: HistoryBundleState, by: BundleActor): OpenBundle | EndedBundle {
  if (state.status === 'none' || state.accountId !== by.accountId) throw notFound('no such history bundle');
  if (!by.primary && by.deviceId !== state.deviceId) throw notFound('no such history bundle');
  return state;
}

const ended = (bundle: OpenBundle, reason: HistoryBundleEndReason, now: Date): MediaDomainEvent => ({
  $case: 'historyBundleEnded',
  value: {
    accountId: bundle.accountId,
    bundleId: bundle.bundleId,
    deviceId: bundle.deviceId,
    reason,
    mediaIds: bundle.parts.map((part) => part.mediaId),
    endedAt: now,
  },
});

function announce(command: AnnounceHistoryBundle, state: HistoryBundleState): MediaDomainEvent[] {
  if (state.status !== 'none') throw alreadyExists(`history bundle ${command.bundleId} exists already`);
  if (!command.by.primary) throw permissionDenied('only the primary device may announce a history bundle');
  if (!command.deviceIsLinkedCompanion) {
    throw failedPrecondition(`device ${command.deviceId} is not a linked companion of the account`);
  }
  if (command.parts.length === 0) throw invalidArgument('media_ids', 'must name at least one part');
  if (command.parts.length > historyBundleLimits.maxParts) {
    throw invalidArgument('media_ids', `must name at most ${historyBundleLimits.maxParts} parts`);
  }
  if (new Set(command.parts.map((part) => part.mediaId)).size !== command.parts.length) {
    throw invalidArgument('media_ids', 'must name each part once');
  }
  const parts = command.parts.map(({ mediaId, media }) => {
    if (media.status !== 'uploaded' || media.accountId !== command.by.accountId) {
      throw failedPrecondition(`part ${mediaId} is not a blob this account uploaded completely`);
    }
    return { mediaId, sizeBytes: media.sizeBytes, sha256: Buffer.from(media.sha256) };
  });
  return [
    {
      $case: 'historyBundleAnnounced',
      value: {
        accountId: command.by.accountId,
        bundleId: command.bundleId,
        deviceId: command.deviceId,
        parts,
        totalBytes: parts.reduce((sum, part) => sum + part.sizeBytes, 0),
        announcedAt: command.now,
        expiresAt: new Date(command.now.getTime() + command.ttlSeconds * 1000),
        byDeviceId: command.by.deviceId,
      },
    },
  ];
}

function receive(command: ReceiveHistoryBundlePart, state: HistoryBundleState): MediaDomainEvent[] {
  if (
    state.status === 'none' ||
    state.accountId !== command.by.accountId ||
    state.deviceId !== command.by.deviceId
  ) {
    throw notFound('no such history bundle');
  }
  if (!state.parts.some((part) => part.mediaId === command.mediaId)) {
    throw invalidArgument('media_id', 'is not a part of this history bundle');
  }
  if (state.received.has(command.mediaId)) return [];
  if (state.status === 'ended') throw failedPrecondition('the history bundle ended');
  const partsReceived = state.received.size + 1;
  const events: MediaDomainEvent[] = [
    {
      $case: 'historyBundlePartReceived',
      value: {
        accountId: state.accountId,
        bundleId: state.bundleId,
        mediaId: command.mediaId,
        partsReceived,
        partsTotal: state.parts.length,
        receivedAt: command.now,
      },
    },
  ];
  if (partsReceived === state.parts.length) {
    events.push(ended(state, HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_RECEIVED, command.now));
  }
  return events;
}

function decide(command: HistoryBundleCommand, state: HistoryBundleState): MediaDomainEvent[] {
  switch (command.type) {
    case 'AnnounceHistoryBundle':
      return announce(command, state);
    case 'ReceiveHistoryBundlePart':
      return receive(command, state);
    case 'ExpireHistoryBundle':
      if (state.status !== 'open' || command.now < state.expiresAt) return [];
      return [ended(state, HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_EXPIRED, command.now)];
    case 'CancelHistoryBundle':
      if (state.status !== 'open' || state.deviceId !== command.unlinkedDeviceId) return [];
      return [ended(state, HistoryBundleEndReason.HISTORY_BUNDLE_END_REASON_DEVICE_UNLINKED, command.now)];
    default:
      return assertNever(command);
  }
}

function evolve(state: HistoryBundleState, event: MediaDomainEvent): HistoryBundleState {
  switch (event.$case) {
    case 'historyBundleAnnounced': {
      const { value } = event;
      return {
        status: 'open',
        bundleId: value.bundleId,
        accountId: value.accountId,
        deviceId: value.deviceId,
        parts: value.parts.map((part) => ({ ...part })),
        received: new Set(),
        expiresAt: value.expiresAt ?? new Date(0),
      };
    }
    case 'historyBundlePartReceived':
      if (state.status === 'none') return state;
      return { ...state, received: new Set(state.received).add(event.value.mediaId) };
    case 'historyBundleEnded':
      if (state.status !== 'open') return state;
      return { ...state, status: 'ended', reason: event.value.reason };
    case 'uploadStarted':
    case 'mediaUploaded':
    case 'uploadRejected':
    case 'uploadExpired':
    case 'mediaExpired':
    case 'mediaPurged':
    case 'mediaDiscarded':
      return state;
    default:
      return assertNever(event);
  }
}

export const historyBundleDecider: Decider<HistoryBundleCommand, MediaDomainEvent, HistoryBundleState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'none' }),
};
