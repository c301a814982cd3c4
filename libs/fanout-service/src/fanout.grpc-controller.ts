import type { Metadata, ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { authenticatedDevice, DeviceAuthGuard } from '@tandem/auth';
import {
  type AckRequest,
  type AckResponse,
  type ConnectRequest,
  type ConnectResponse,
  FanoutServiceService,
  type GetInboxStatusRequest,
  type GetInboxStatusResponse,
  type SendRequest,
  type SendResponse,
  type StreamInboxRequest,
  type StreamInboxResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { invalidArgument } from '@tandem/decider';
import { maxInboxDepth } from '@tandem/fanout-domain';
import { type GrpcController, GrpcServiceMethods, type RateLimit, requestContext } from '@tandem/grpc';
import { Observable } from 'rxjs';
import { DeviceListsProjection } from './device-lists.projection';
import { FanoutCommands } from './fanout.commands';
import { InboxStreams, type OpenStream } from './inbox-streams';
import { InboxTiers } from './inbox-tiers';

/** The per-device send budget. */
export const SEND_RATE_LIMIT = Symbol('SendRateLimit');

@Controller()
@GrpcServiceMethods(FanoutServiceService)
@UseGuards(DeviceAuthGuard)
export class FanoutGrpcController implements GrpcController<typeof FanoutServiceService> {
  constructor(
    @Inject(FanoutCommands) private readonly commands: FanoutCommands,
    @Inject(InboxStreams) private readonly streams: InboxStreams,
    @Inject(InboxTiers) private readonly inboxes: InboxTiers,
    @Inject(DeviceListsProjection) private readonly deviceLists: DeviceListsProjection,
    @Inject(SEND_RATE_LIMIT) private readonly sendRate: RateLimit,
  ) {}

  async send(request: SendRequest, metadata?: Metadata): Promise<SendResponse> {
    const device = authenticatedDevice(metadata);
    await this.sendRate.consume(`${device.accountId}:${device.deviceId}`);
    return this.commands.send(device, request, requestContext(metadata));
  }

  streamInbox(
    request: StreamInboxRequest,
    metadata?: Metadata,
    call?: ServerWritableStream<StreamInboxRequest, StreamInboxResponse>,
  ): Observable<StreamInboxResponse> {
    const device = authenticatedDevice(metadata);
    if (!Number.isSafeInteger(request.afterSequence) || request.afterSequence < 0) {
      throw invalidArgument('after_sequence', 'must be a sequence number, 0 or more');
    }
    return new Observable<StreamInboxResponse>((subscriber) => {
      const close = this.streams.open(device.accountId, device.deviceId, request.afterSequence, {
        next: (item) => subscriber.next(item),
        error: (error) => subscriber.error(error),
      });
      call?.on('cancelled', close);
      return close;
    });
  }

  /**
   * Responses are written to the call directly rather than through the returned Observable (which
   * only ends the call, with a status on error): a connection's pushes are the hot path.
   */
  connect(
    requests: Observable<ConnectRequest>,
    metadata?: Metadata,
    call?: ServerDuplexStream<ConnectRequest, ConnectResponse>,
  ): Observable<ConnectResponse> {
    const device = authenticatedDevice(metadata);
    const context = requestContext(metadata);
    return new Observable<ConnectResponse>((subscriber) => {
      let open: OpenStream | undefined;
      let acking: Promise<void> = Promise.resolve();
      const fail = (error: unknown) => {
        open?.();
        subscriber.error(error);
      };
      const frames = requests.subscribe({
        next: (request) => {
          if (!open) {
            const after = request.frame?.$case === 'open' ? request.frame.value.afterSequence : undefined;
            if (after === undefined)
              return fail(invalidArgument('open', 'the first request must open the inbox'));
            if (!Number.isSafeInteger(after) || after < 0) {
              return fail(invalidArgument('open.after_sequence', 'must be a sequence number, 0 or more'));
            }
            const write = (response: ConnectResponse) =>
              call ? void call.write(response) : subscriber.next(response);
            open = this.streams.open(device.accountId, device.deviceId, after, {
              next: ({ item }) =>
                write({
                  entries: item?.$case === 'entry' ? [item.value] : [],
                  caughtUp: item?.$case === 'caughtUp' ? item.value : undefined,
                  superseded: item?.$case === 'superseded' ? item.value : undefined,
                }),
              entries: (entries) =>
                write({ entries: [...entries], caughtUp: undefined, superseded: undefined }),
              error: (error) => subscriber.error(error),
            });
            return;
          }
          if (request.frame?.$case !== 'ack') {
            return fail(invalidArgument('open', 'the inbox is open already; send acks'));
          }
          const through = request.frame.value.throughSequence;
          if (!Number.isSafeInteger(through) || through < 1 || through > open.sentThrough()) {
            return fail(
              invalidArgument(
                'ack.through_sequence',
                `must be a sequence sent on this connection (1 to ${open.sentThrough()})`,
              ),
            );
          }
          acking = acking
            .then(() => this.commands.ackThrough(device, through, context))
            .catch((error: unknown) => fail(error));
        },
        error: () => open?.(),
        complete: () => {
          open?.();
          subscriber.complete();
        },
      });
      return () => {
        frames.unsubscribe();
        open?.();
      };
    });
  }

  async ack(request: AckRequest, metadata?: Metadata): Promise<AckResponse> {
    const device = authenticatedDevice(metadata);
    return { ackedCount: await this.commands.ack(device, request, requestContext(metadata)) };
  }

  async getInboxStatus(
    _request: GetInboxStatusRequest,
    metadata?: Metadata,
  ): Promise<GetInboxStatusResponse> {
    const device = authenticatedDevice(metadata);
    const [head, list] = await Promise.all([
      this.inboxes.head(device.accountId),
      this.deviceLists.get(device.accountId),
    ]);
    const inbox = head?.inboxes.find((known) => known.deviceId === device.deviceId);
    const oldest = inbox?.pending[0];
    return {
      depth: inbox?.pending.length ?? 0,
      maxDepth: maxInboxDepth(
        list?.devices.find((known) => known.deviceId === device.deviceId)?.primary ?? false,
      ),
      lastSequence: inbox?.lastSequence ?? 0,
      oldestAppendedAt: oldest ? new Date(oldest.appendedAt) : undefined,
    };
  }
}
