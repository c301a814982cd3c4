import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject, UseGuards } from '@nestjs/common';
import { type AccountState, validatePhoneNumber } from '@tandem/accounts-domain';
import { authenticatedDevice, DeviceAuthGuard, Public, requireOwnAccount } from '@tandem/auth';
import {
  AccountsServiceService,
  type BlockAccountRequest,
  type BlockAccountResponse,
  type DeleteAccountRequest,
  type DeleteAccountResponse,
  type GetAccountRequest,
  type GetAccountResponse,
  type GetProfileRequest,
  type GetProfileResponse,
  type ListBlockedAccountsRequest,
  type ListBlockedAccountsResponse,
  type LookupAccountRequest,
  type LookupAccountResponse,
  type RegisterRequest,
  type RegisterResponse,
  type UnblockAccountRequest,
  type UnblockAccountResponse,
  type UpdateProfileRequest,
  type UpdateProfileResponse,
  type UpdateSettingsRequest,
  type UpdateSettingsResponse,
} from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { invalidArgument, notFound } from '@tandem/decider';
import { type GrpcController, GrpcServiceMethods, requestContext } from '@tandem/grpc';
import { AccountCommands } from './accounts.commands';
import { AccountsReadModel } from './accounts-read-model.projection';

function requireAccountId(accountId: string): string {
  if (!accountId) throw invalidArgument('account_id', 'is required');
  return accountId;
}

function registered(state: AccountState) {
  if (state.status !== 'registered') throw notFound('account not found');
  return state;
}

@Controller()
@GrpcServiceMethods(AccountsServiceService)
@UseGuards(DeviceAuthGuard)
export class AccountsGrpcController implements GrpcController<typeof AccountsServiceService> {
  constructor(
    @Inject(AccountCommands) private readonly commands: AccountCommands,
    @Inject(AccountsReadModel) private readonly readModel: AccountsReadModel,
  ) {}

  @Public()
  async register(request: RegisterRequest, metadata?: Metadata): Promise<RegisterResponse> {
    const { accountId, reregistered } = await this.commands.register(
      {
        phoneNumber: request.phoneNumber,
        identityKey: request.identityKey,
        registrationId: request.registrationId,
        deviceName: request.deviceName,
        reregister: request.reregister,
      },
      requestContext(metadata),
    );
    return { accountId, deviceId: reregistered ? 0 : 1, reregistered };
  }

  async getAccount(request: GetAccountRequest, metadata?: Metadata): Promise<GetAccountResponse> {
    requireOwnAccount(authenticatedDevice(metadata), requireAccountId(request.accountId));
    const { state, version } = await this.commands.accounts.load(request.accountId);
    const account = registered(state);
    return {
      account: {
        accountId: account.accountId,
        phoneNumber: account.phoneNumber,
        profile: account.profile,
        settings: account.settings,
        version,
      },
    };
  }

  async getProfile(request: GetProfileRequest): Promise<GetProfileResponse> {
    const record = await this.readModel.byId(requireAccountId(request.accountId));
    if (!record) throw notFound('account not found');
    return {
      accountId: record.accountId,
      profile: { displayName: record.displayName, about: record.about, avatarRef: record.avatarRef },
      version: record.version,
    };
  }

  async lookupAccount(request: LookupAccountRequest): Promise<LookupAccountResponse> {
    const record = await this.readModel.byPhoneNumber(validatePhoneNumber(request.phoneNumber));
    if (!record) throw notFound('no account has this phone number');
    return { accountId: record.accountId };
  }

  async updateProfile(request: UpdateProfileRequest, metadata?: Metadata): Promise<UpdateProfileResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    const { state, version } = await this.commands.accounts.handle(
      request.accountId,
      {
        type: 'UpdateProfile',
        byDeviceId: device.deviceId,
        displayName: request.displayName,
        about: request.about,
        avatarRef: request.avatarRef,
      },
      requestContext(metadata),
    );
    return { profile: registered(state).profile, version };
  }

  async updateSettings(request: UpdateSettingsRequest, metadata?: Metadata): Promise<UpdateSettingsResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    const { state, version } = await this.commands.accounts.handle(
      request.accountId,
      {
        type: 'UpdateSettings',
        byDeviceId: device.deviceId,
        lastSeenVisibility: request.lastSeenVisibility,
        backupFrequency: request.backupFrequency,
        backupWifiOnly: request.backupWifiOnly,
        backupIncludeVideos: request.backupIncludeVideos,
      },
      requestContext(metadata),
    );
    return { settings: registered(state).settings, version };
  }

  async deleteAccount(request: DeleteAccountRequest, metadata?: Metadata): Promise<DeleteAccountResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    await this.commands.accounts.handle(
      request.accountId,
      { type: 'DeleteAccount', byDeviceId: device.deviceId, byPrimary: device.primary },
      requestContext(metadata),
    );
    return {};
  }

  async blockAccount(request: BlockAccountRequest, metadata?: Metadata): Promise<BlockAccountResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    const blockedAccountId = request.blockedAccountId;
    const { version } = await this.commands.accounts.handle(
      request.accountId,
      async () => ({
        type: 'BlockAccount',
        byDeviceId: device.deviceId,
        blockedAccountId,
        blockedAccountExists:
          blockedAccountId !== '' &&
          (await this.commands.accounts.load(blockedAccountId)).state.status === 'registered',
      }),
      requestContext(metadata),
    );
    return { version };
  }

  async unblockAccount(request: UnblockAccountRequest, metadata?: Metadata): Promise<UnblockAccountResponse> {
    const device = authenticatedDevice(metadata);
    requireOwnAccount(device, requireAccountId(request.accountId));
    const { version } = await this.commands.accounts.handle(
      request.accountId,
      { type: 'UnblockAccount', byDeviceId: device.deviceId, blockedAccountId: request.blockedAccountId },
      requestContext(metadata),
    );
    return { version };
  }

  async listBlockedAccounts(
    request: ListBlockedAccountsRequest,
    metadata?: Metadata,
  ): Promise<ListBlockedAccountsResponse> {
    requireOwnAccount(authenticatedDevice(metadata), requireAccountId(request.accountId));
    const { state, version } = await this.commands.accounts.load(request.accountId);
    return { blockedAccountIds: [...registered(state).blocked], version };
  }
}
