import type { Metadata, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { authenticatedDevice, DeviceAuthGuard, Public, requireOwnAccount } from '@tandem/auth';
import {
  type ApproveLinkRequest,
  type ApproveLinkResponse,
  type BeginLinkRequest,
  type BeginLinkResponse,
  type CreateSignInChallengeRequest,
  type CreateSignInChallengeResponse,
  type GetDeviceListRequest,
  type GetDeviceListResponse,
  LinkingServiceService,
  type ListDeviceListChangesRequest,
  type ListDeviceListChangesResponse,
  type ListDevicesRequest,
  type ListDevicesResponse,
  type RenameDeviceRequest,
  type RenameDeviceResponse,
  type SignDeviceListRequest,
  type SignDeviceListResponse,
  type SignInRequest,
  type SignInResponse,
  type UnlinkDeviceRequest,
  type UnlinkDeviceResponse,
  type WatchLinkRequest,
  type WatchLinkResponse,
} from '@tandem/contracts/tandem/linking/v1/linking_service';
import type { TandemConfig } from '@tandem/config';
import { invalidArgument } from '@tandem/decider';
import { type GrpcController, GrpcServiceMethods, type RateLimit, requestContext } from '@tandem/grpc';
import type { RateLimits } from '@tandem/runtime';
import { Observable } from 'rxjs';
import { DeviceLinking } from './device-linking';
import { SignIn, validatePrincipal } from './sign-in';

/**
 * Rate limits of the linking service: begin-link per source address, approve-link per account,
 * sign-in attempts per device.
 */
export const LINK_RATE_LIMITS = Symbol('LinkRateLimits');
export interface LinkRateLimits {
  readonly beginLinkPerAddress: RateLimit;
  readonly approveLinkPerAccount: RateLimit;
  readonly signInPerDevice: RateLimit;
}

/** Linking's limits as the configuration sets them (TANDEM_LINK_RATE_LIMIT, TANDEM_SIGN_IN_RATE_LIMIT). */
export function linkRateLimits(limits: RateLimits, config: TandemConfig['linking']): LinkRateLimits {
  const { requests: points, windowSeconds } = config.rateLimit;
  return {
    beginLinkPerAddress: limits.limit({
      name: 'begin-link',
      what: 'link sessions from this address',
      points,
      windowSeconds,
    }),
    approveLinkPerAccount: limits.limit({
      name: 'approve-link',
      what: 'link approvals for this account',
      points,
      windowSeconds,
    }),
    signInPerDevice: limits.limit({
      name: 'sign-in',
      what: 'sign-in attempts for this device',
      points: config.signInRateLimit.requests,
      windowSeconds: config.signInRateLimit.windowSeconds,
    }),
  };
}

function requireAccountId(accountId: string): string {
  if (!accountId) throw invalidArgument('account_id', 'is required');
  return accountId;
}

/** The caller's address without its port, e.g. `ipv4:127.0.0.1:5000` -> `127.0.0.1`. */
function sourceAddress(call: ServerUnaryCall<unknown, unknown> | undefined): string {
  const peer = call?.getPeer() ?? 'unknown';
  return peer.replace(/^ipv[46]:/, '').replace(/:\d+$/, '');
}

@Controller()
@GrpcServiceMethods(LinkingServiceService)
@UseGuards(DeviceAuthGuard)
export class LinkingGrpcController implements GrpcController<typeof LinkingServiceService> {
  constructor(
    @Inject(SignIn) private readonly signInFlow: SignIn,
    @Inject(DeviceLinking) private readonly linking: DeviceLinking,
    @Inject(LINK_RATE_LIMITS) private readonly limits: LinkRateLimits,
  ) {}

  @Public()
  async createSignInChallenge(request: CreateSignInChallengeRequest): Promise<CreateSignInChallengeResponse> {
    const { challenge, expiresAt, deviceId } = await this.signInFlow.challenge(
      request.accountId,
      request.deviceId,
      request.identityKey,
    );
    return { challenge, expiresAt: expiresAt, deviceId };
  }

  @Public()
  async signIn(request: SignInRequest): Promise<SignInResponse> {
    const principal = validatePrincipal(request.accountId, request.deviceId);
    await this.limits.signInPerDevice.consume(`${principal.accountId}:${principal.deviceId}`);
    const { token, expiresAt } = await this.signInFlow.signIn(
      principal,
      request.challenge,
      request.signature,
    );
    return { token, expiresAt: expiresAt };
  }

  async listDevices(request: ListDevicesRequest, metadata?: Metadata): Promise<ListDevicesResponse> {
    requireOwnAccount(authenticatedDevice(metadata), requireAccountId(request.accountId));
    return this.linking.listDevices(request.accountId);
  }

  @Public()
  async beginLink(
    request: BeginLinkRequest,
    metadata?: Metadata,
    call?: ServerUnaryCall<BeginLinkRequest, BeginLinkResponse>,
  ): Promise<BeginLinkResponse> {
    await this.limits.beginLinkPerAddress.consume(sourceAddress(call));
    return this.linking.beginLink(request, requestContext(metadata));
  }

  @Public()
  watchLink(
    request: WatchLinkRequest,
    _metadata?: Metadata,
    call?: ServerWritableStream<WatchLinkRequest, WatchLinkResponse>,
  ): Observable<WatchLinkResponse> {
    return new Observable<WatchLinkResponse>((subscriber) => {
      let cancelled = false;
      call?.on('cancelled', () => (cancelled = true));
      this.linking
        .watch(request.sessionId, request.signature, () => cancelled || subscriber.closed)
        .then(
          (outcome) => {
            subscriber.next(outcome);
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
      return () => (cancelled = true);
    });
  }

  async approveLink(request: ApproveLinkRequest, metadata?: Metadata): Promise<ApproveLinkResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    await this.limits.approveLinkPerAccount.consume(device.accountId);
    return this.linking.approveLink(device, request, requestContext(metadata));
  }

  async getDeviceList(request: GetDeviceListRequest): Promise<GetDeviceListResponse> {
    return this.linking.deviceList(requireAccountId(request.accountId));
  }

  async unlinkDevice(request: UnlinkDeviceRequest, metadata?: Metadata): Promise<UnlinkDeviceResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    return { listVersion: await this.linking.unlink(device, request, requestContext(metadata)) };
  }

  async renameDevice(request: RenameDeviceRequest, metadata?: Metadata): Promise<RenameDeviceResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    await this.linking.deviceLists.handle(
      device.accountId,
      { type: 'RenameDevice', deviceId: request.deviceId, name: request.name, by: device },
      requestContext(metadata),
    );
    return {};
  }

  async signDeviceList(request: SignDeviceListRequest, metadata?: Metadata): Promise<SignDeviceListResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    await this.linking.deviceLists.handle(
      device.accountId,
      {
        type: 'SignDeviceList',
        listVersion: request.listVersion,
        listSignature: request.listSignature,
        by: device,
      },
      requestContext(metadata),
    );
    return {};
  }

  async listDeviceListChanges(
    request: ListDeviceListChangesRequest,
    metadata?: Metadata,
  ): Promise<ListDeviceListChangesResponse> {
    requireOwnAccount(authenticatedDevice(metadata), requireAccountId(request.accountId));
    if (request.limit > 100) throw invalidArgument('limit', 'must be at most 100');
    return { changes: await this.linking.changes(request.accountId, request.limit || 20) };
  }
}
