import type { Metadata, ServerWritableStream } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { authenticatedDevice, DeviceAuthGuard } from '@tandem/auth';
import type { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import {
  type HeartbeatRequest,
  type HeartbeatResponse,
  PresenceServiceService,
  type SetTypingRequest,
  type SetTypingResponse,
  type SubscribeRequest,
  type SubscribeResponse,
} from '@tandem/contracts/tandem/presence/v1/presence_service';
import {
  type GrpcController,
  GrpcServiceMethods,
  MemoryRateLimit,
  type RateLimit,
  requestContext,
} from '@tandem/grpc';
import { subscribedAccounts } from '@tandem/presence-domain';
import { Observable } from 'rxjs';
import { PresenceBook } from './presence-book';
import { PresenceSubscriptions } from './presence-subscriptions';
import { TypingIndicators } from './typing-indicators';

/** The per-device budget of heartbeats and typing updates. */
/** Heartbeats and typing updates one device may send per minute. */
const UPDATES_PER_MINUTE = 120;

/**
 * The limit of presence updates per device: in memory even in distributed mode, as presence runs
 * as one replica (it holds every device's presence in memory), so one process's count is the whole.
 */
export const presenceRateLimit = (): RateLimit =>
  new MemoryRateLimit({
    name: 'presence-updates',
    what: 'presence updates from this device',
    points: UPDATES_PER_MINUTE,
    windowSeconds: 60,
  });

export const PRESENCE_RATE_LIMIT = Symbol('PresenceRateLimit');

/** How often a client should send heartbeats, in seconds. */
export const HEARTBEAT_INTERVAL_SECONDS = Symbol('HeartbeatIntervalSeconds');

@Controller()
@GrpcServiceMethods(PresenceServiceService)
@UseGuards(DeviceAuthGuard)
export class PresenceGrpcController implements GrpcController<typeof PresenceServiceService> {
  constructor(
    @Inject(PresenceBook) private readonly book: PresenceBook,
    @Inject(TypingIndicators) private readonly typing: TypingIndicators,
    @Inject(PresenceSubscriptions) private readonly subscriptions: PresenceSubscriptions,
    @Inject(PRESENCE_RATE_LIMIT) private readonly rate: RateLimit,
    @Inject(HEARTBEAT_INTERVAL_SECONDS) private readonly intervalSeconds: number,
  ) {}

  async heartbeat(_request: HeartbeatRequest, metadata?: Metadata): Promise<HeartbeatResponse> {
    const device = authenticatedDevice(metadata);
    await this.rate.consume(`${device.accountId}:${device.deviceId}`);
    const onlineUntil = this.book.heartbeat(device.accountId, device.deviceId);
    await this.book.flush();
    return { onlineUntil: onlineUntil, intervalSeconds: this.intervalSeconds };
  }

  async setTyping(request: SetTypingRequest, metadata?: Metadata): Promise<SetTypingResponse> {
    const device = authenticatedDevice(metadata);
    await this.rate.consume(`${device.accountId}:${device.deviceId}`);
    const expiresAt = await this.typing.set(
      device,
      request.chatAccountId,
      request.state as number as TypingState,
      requestContext(metadata).correlationId,
    );
    return { expiresAt };
  }

  subscribe(
    request: SubscribeRequest,
    metadata?: Metadata,
    call?: ServerWritableStream<SubscribeRequest, SubscribeResponse>,
  ): Observable<SubscribeResponse> {
    const device = authenticatedDevice(metadata);
    const accountIds = subscribedAccounts(request.accountIds);
    return new Observable<SubscribeResponse>((subscriber) => {
      const close = this.subscriptions.open(device.accountId, device.deviceId, accountIds, {
        next: (item) => subscriber.next(item),
        error: (error) => subscriber.error(error),
      });
      call?.on('cancelled', close);
      return close;
    });
  }
}
