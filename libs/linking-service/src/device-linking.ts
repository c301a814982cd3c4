import { randomUUID } from 'node:crypto';
import type { AuthenticatedDevice } from '@tandem/auth';
import type {
  ApproveLinkRequest,
  ApproveLinkResponse,
  BeginLinkRequest,
  BeginLinkResponse,
  DeviceListChange,
  GetDeviceListResponse,
  ListDevicesResponse,
  UnlinkDeviceRequest,
  WatchLinkResponse,
} from '@tandem/contracts/tandem/linking/v1/linking_service';
import { DeviceListChangeKind } from '@tandem/contracts/tandem/linking/v1/linking_service';
import { unlinkReasonToJSON } from '@tandem/contracts/tandem/linking/v1/events';
import { invalidArgument, notFound, permissionDenied } from '@tandem/decider';
import type { CommandContext, CommandHandler, EventCodec, EventStore } from '@tandem/event-sourcing';
import { GrpcStatusError } from '@tandem/grpc';
import { status } from '@grpc/grpc-js';
import {
  currentListContent,
  type DeviceListCommand,
  type DeviceListDomainEvent,
  deviceListDecider,
  deviceListHash,
  type DeviceListState,
  type LinkCompanion,
  linkedDevices,
  type LinkSessionCommand,
  linkSessionDecider,
  type LinkSessionState,
  linkSessionStreamId,
  verifyEd25519,
} from '@tandem/linking-domain';
import type { DeviceActivity } from './device-activity';

export type DeviceLists = CommandHandler<DeviceListCommand, DeviceListDomainEvent, DeviceListState>;
export type LinkSessions = CommandHandler<LinkSessionCommand, DeviceListDomainEvent, LinkSessionState>;

export interface DeviceLinkingOptions {
  readonly maxCompanions: number;
  readonly linkSessionTtlMs: number;
  /** How often a watching companion's session is looked at. */
  readonly watchPollMs?: number;
}

const WATCH_PROOF_PREFIX = 'tandem-link-watch:';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The linking flows over the device-list and link-session aggregates: begin, watch and approve a
 * link, unlink, rename, sign, and the views of a device list. Refusals are decided before anything
 * is written, so a refused request records nothing.
 */
export class DeviceLinking {
  private readonly watchPollMs: number;
  private streamsEnded = false;
  private openWatches = 0;

  constructor(
    readonly deviceLists: DeviceLists,
    private readonly linkSessions: LinkSessions,
    private readonly store: EventStore,
    private readonly codec: EventCodec<DeviceListDomainEvent>,
    private readonly activity: DeviceActivity,
    private readonly options: DeviceLinkingOptions,
  ) {
    this.watchPollMs = options.watchPollMs ?? 100;
  }

  /**
   * Ends every watch with UNAVAILABLE (the process is shutting down), so the companion watches
   * again; resolves when they have ended.
   */
  async endWatches(): Promise<void> {
    this.streamsEnded = true;
    while (this.openWatches > 0) await sleep(this.watchPollMs);
  }

  async beginLink(request: BeginLinkRequest, context: CommandContext): Promise<BeginLinkResponse> {
    const sessionId = randomUUID();
    const { state } = await this.linkSessions.handle(
      linkSessionStreamId(sessionId),
      {
        type: 'StartLinkSession',
        sessionId,
        identityKey: request.identityKey,
        registrationId: request.registrationId,
        name: request.name,
        platform: request.platform,
        now: new Date(),
        ttlMs: this.options.linkSessionTtlMs,
      },
      context,
    );
    if (state.status !== 'started') throw new Error('link session did not start');
    const key = Buffer.from(state.identityKey).toString('base64url');
    return {
      sessionId,
      qrPayload: `tandem://link?v=1&s=${sessionId}&k=${key}`,
      expiresAt: state.expiresAt,
    };
  }

  /**
   * Waits until the session is approved and its device linked, or until it expires; `cancelled`
   * stops the wait when the companion goes away.
   */
  async watch(
    sessionId: string,
    signature: Uint8Array,
    cancelled: () => boolean,
  ): Promise<WatchLinkResponse> {
    if (!sessionId) throw invalidArgument('session_id', 'is required');
    const stream = linkSessionStreamId(sessionId);
    const { state: first } = await this.linkSessions.load(stream);
    if (first.status === 'none') throw notFound('no such link session');
    const proof = Buffer.from(WATCH_PROOF_PREFIX + sessionId, 'utf8');
    if (!verifyEd25519(first.identityKey, proof, signature)) {
      throw permissionDenied(
        `signature must be the session key's signature over "${WATCH_PROOF_PREFIX}<session id>"`,
      );
    }
    this.openWatches++;
    try {
      for (;;) {
        const { state } = await this.linkSessions.load(stream);
        if (state.status === 'approved') {
          const { state: list } = await this.deviceLists.load(state.accountId);
          const deviceId = list.linkedSessions.get(sessionId);
          if (deviceId !== undefined)
            return { outcome: { $case: 'approved', value: { accountId: state.accountId, deviceId } } };
        } else if (
          state.status === 'expired' ||
          (state.status === 'started' && Date.now() >= state.expiresAt.getTime())
        ) {
          return { outcome: { $case: 'expired', value: {} } };
        }
        if (cancelled()) return { outcome: { $case: 'expired', value: {} } };
        if (this.streamsEnded)
          throw new GrpcStatusError(status.UNAVAILABLE, 'the server is shutting down; watch again');
        await sleep(this.watchPollMs);
      }
    } finally {
      this.openWatches--;
    }
  }

  async approveLink(
    device: AuthenticatedDevice,
    request: ApproveLinkRequest,
    context: CommandContext,
  ): Promise<ApproveLinkResponse> {
    if (!request.sessionId) throw invalidArgument('session_id', 'is required');
    const now = new Date();
    const stream = linkSessionStreamId(request.sessionId);
    const approve: LinkSessionCommand = {
      type: 'ApproveLinkSession',
      accountId: device.accountId,
      byDeviceId: device.deviceId,
      byPrimary: device.primary,
      identityKey: request.identityKey,
      now,
    };
    const { state: session } = await this.linkSessions.load(stream);
    linkSessionDecider.decide(approve, session);
    if (session.status === 'none') throw notFound('no such link session');
    const link: LinkCompanion = {
      type: 'LinkCompanion',
      session: {
        sessionId: session.sessionId,
        identityKey: session.identityKey,
        registrationId: session.registrationId,
        name: session.name,
        platform: session.platform,
      },
      by: device,
      listVersion: request.listVersion,
      listSignature: request.listSignature,
      maxCompanions: this.options.maxCompanions,
      now,
    };
    const { state: list } = await this.deviceLists.load(device.accountId);
    deviceListDecider.decide(link, list);

    await this.linkSessions.handle(stream, approve, context);
    const { state } = await this.deviceLists.handle(device.accountId, link, context);
    const deviceId = state.linkedSessions.get(session.sessionId);
    if (deviceId === undefined) throw new Error('approved link session left no linked device');
    return { deviceId, listVersion: state.listVersion };
  }

  async unlink(
    device: AuthenticatedDevice,
    request: UnlinkDeviceRequest,
    context: CommandContext,
  ): Promise<number> {
    const { state } = await this.deviceLists.handle(
      device.accountId,
      {
        type: 'UnlinkDevice',
        deviceId: request.deviceId,
        by: device,
        listVersion: request.listVersion,
        listSignature: request.listSignature,
        now: new Date(),
      },
      context,
    );
    return state.listVersion;
  }

  async listDevices(accountId: string): Promise<ListDevicesResponse> {
    const { state } = await this.deviceLists.load(accountId);
    const devices = await Promise.all(
      linkedDevices(state).map(async (device) => {
        const lastActiveAt = await this.activity.lastActiveAt(accountId, device.deviceId);
        return {
          deviceId: device.deviceId,
          name: device.name,
          primary: device.primary,
          linkedAt: device.linkedAt,
          identityKey: Buffer.from(device.identityKey),
          registrationId: device.registrationId,
          platform: device.platform,
          lastActiveAt,
        };
      }),
    );
    return { devices, listVersion: state.listVersion, nextDeviceId: state.highestDeviceId + 1 };
  }

  async deviceList(accountId: string): Promise<GetDeviceListResponse> {
    const { state } = await this.deviceLists.load(accountId);
    if (state.devices.size === 0) throw notFound('the account has no linked devices');
    const signed = state.signature?.listVersion === state.listVersion ? state.signature : undefined;
    return {
      accountId,
      listVersion: state.listVersion,
      devices: [...state.devices.values()]
        .sort((a, b) => a.deviceId - b.deviceId)
        .map((device) => ({
          deviceId: device.deviceId,
          identityKey: Buffer.from(device.identityKey),
          registrationId: device.registrationId,
        })),
      listHash: deviceListHash(currentListContent(state)),
      listSignature: Buffer.from(signed?.value ?? Buffer.alloc(0)),
      signedListVersion: signed?.listVersion ?? 0,
    };
  }

  /** The account's device-list changes, newest first. */
  async changes(accountId: string, limit: number): Promise<DeviceListChange[]> {
    const names = new Map<number, string>();
    const changes: DeviceListChange[] = [];
    for (const stored of await this.store.readStream(accountId)) {
      const event = this.codec.decode(stored.payload);
      switch (event.$case) {
        case 'deviceLinked':
          names.set(event.value.deviceId, event.value.name);
          changes.push({
            kind: DeviceListChangeKind.DEVICE_LIST_CHANGE_KIND_LINKED,
            deviceId: event.value.deviceId,
            deviceName: event.value.name,
            byDeviceId: event.value.byDeviceId,
            reason: '',
            at: stored.occurredAt,
            listVersion: event.value.listVersion,
          });
          break;
        case 'deviceUnlinked':
          changes.push({
            kind: DeviceListChangeKind.DEVICE_LIST_CHANGE_KIND_UNLINKED,
            deviceId: event.value.deviceId,
            deviceName: names.get(event.value.deviceId) ?? '',
            byDeviceId: event.value.byDeviceId,
            reason: unlinkReasonToJSON(event.value.reason).replace('UNLINK_REASON_', ''),
            at: stored.occurredAt,
            listVersion: event.value.listVersion,
          });
          break;
        case 'deviceRenamed':
          names.set(event.value.deviceId, event.value.name);
          changes.push({
            kind: DeviceListChangeKind.DEVICE_LIST_CHANGE_KIND_RENAMED,
            deviceId: event.value.deviceId,
            deviceName: event.value.name,
            byDeviceId: event.value.byDeviceId,
            reason: '',
            at: stored.occurredAt,
            listVersion: changes.at(-1)?.listVersion ?? 0,
          });
          break;
        case 'deviceListSigned':
          changes.push({
            kind: DeviceListChangeKind.DEVICE_LIST_CHANGE_KIND_SIGNED,
            deviceId: 0,
            deviceName: '',
            byDeviceId: 0,
            reason: '',
            at: stored.occurredAt,
            listVersion: event.value.listVersion,
          });
          break;
        default:
          break;
      }
    }
    return changes.reverse().slice(0, limit);
  }
}
