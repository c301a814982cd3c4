import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { authenticatedDevice, DeviceAuthGuard, Public, requireOwnAccount } from '@tandem/auth';
import {
  type CreateSignInChallengeRequest,
  type CreateSignInChallengeResponse,
  type LinkingServiceController,
  LinkingServiceControllerMethods,
  type ListDevicesRequest,
  type ListDevicesResponse,
  type SignInRequest,
  type SignInResponse,
} from '@tandem/contracts/grpc/tandem/linking/v1/linking_service';
import { invalidArgument } from '@tandem/decider';
import { toTimestamp } from '@tandem/grpc';
import { type CommandHandler } from '@tandem/event-sourcing';
import {
  type DeviceListCommand,
  type DeviceListDomainEvent,
  type DeviceListState,
  linkedDevices,
} from '@tandem/linking-domain';
import { SignIn, validatePrincipal } from './sign-in';

export const DEVICE_LISTS = Symbol('DeviceLists');

@Controller()
@LinkingServiceControllerMethods()
@UseGuards(DeviceAuthGuard)
export class LinkingGrpcController implements LinkingServiceController {
  constructor(
    @Inject(SignIn) private readonly signInFlow: SignIn,
    @Inject(DEVICE_LISTS)
    private readonly deviceLists: CommandHandler<DeviceListCommand, DeviceListDomainEvent, DeviceListState>,
  ) {}

  @Public()
  async createSignInChallenge(request: CreateSignInChallengeRequest): Promise<CreateSignInChallengeResponse> {
    const { challenge, expiresAt } = await this.signInFlow.challenge(
      validatePrincipal(request.accountId, request.deviceId),
    );
    return { challenge, expiresAt: toTimestamp(expiresAt) };
  }

  @Public()
  async signIn(request: SignInRequest): Promise<SignInResponse> {
    const { token, expiresAt } = await this.signInFlow.signIn(
      validatePrincipal(request.accountId, request.deviceId),
      request.challenge,
      request.signature,
    );
    return { token, expiresAt: toTimestamp(expiresAt) };
  }

  async listDevices(request: ListDevicesRequest, metadata?: Metadata): Promise<ListDevicesResponse> {
    if (!request.accountId) throw invalidArgument('account_id', 'is required');
    requireOwnAccount(authenticatedDevice(metadata), request.accountId);
    const { state, version } = await this.deviceLists.load(request.accountId);
    return {
      devices: linkedDevices(state).map((device) => ({
        deviceId: device.deviceId,
        name: device.name,
        primary: device.primary,
        linkedAt: toTimestamp(device.linkedAt),
        identityKey: Buffer.from(device.identityKey),
        registrationId: device.registrationId,
      })),
      listVersion: version,
    };
  }
}
