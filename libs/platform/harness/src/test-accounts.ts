import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import type { SendRequest } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { type Envelope, EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import type {
  ApproveLinkResponse,
  BeginLinkResponse,
  DeviceKeys,
  GetDeviceListResponse,
  ListDevicesResponse,
  WatchLinkResponse,
} from '@tandem/contracts/tandem/linking/v1/linking_service';
import { newDevice, newPhoneNumber, signDeviceList, signIn, type TestDevice, watchProof } from './devices';
import { eventually, type GrpcTestClient } from './grpc-client';

/** A signed-in device of a test account, with its keys. */
export interface SignedInDevice {
  readonly accountId: string;
  readonly deviceId: number;
  readonly token: string;
  readonly keys: TestDevice;
}

/** An account with its primary (device 1) first, then its companions. */
export interface TestAccount {
  readonly accountId: string;
  readonly phoneNumber: string;
  readonly primary: SignedInDevice;
  readonly devices: readonly SignedInDevice[];
}

/** How long linkCompanion waits for linking's projections (15 s by default), and how often it asks. */
export interface LinkWaits {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Links a companion the way a person does: it shows a QR code and waits on its session, the
 * primary scans it and approves with its signature over the new list, the companion signs in.
 */
export async function linkCompanion(
  linking: GrpcTestClient,
  primary: SignedInDevice,
  name: string,
  waits: LinkWaits = {},
): Promise<SignedInDevice> {
  const { accountId } = primary;
  const companion = newDevice();
  const session = await linking.call<BeginLinkResponse>('BeginLink', {
    identityKey: companion.identityKey,
    registrationId: companion.registrationId,
    name,
    platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
  });
  const watched = linking.stream<WatchLinkResponse>('WatchLink', {
    sessionId: session.sessionId,
    signature: watchProof(companion, session.sessionId),
  });
  const list = await eventually(
    () => linking.call<ListDevicesResponse>('ListDevices', { accountId }, primary.token),
    waits,
  );
  const approved = await linking.call<ApproveLinkResponse>(
    'ApproveLink',
    {
      accountId,
      sessionId: session.sessionId,
      identityKey: companion.identityKey,
      listVersion: list.listVersion + 1,
      listSignature: signDeviceList(primary.keys, accountId, list.listVersion + 1, [
        ...list.devices,
        { deviceId: list.nextDeviceId, identityKey: companion.identityKey },
      ]),
    },
    primary.token,
  );
  await watched;
  const token = await signIn(linking, companion, accountId, approved.deviceId, waits.timeoutMs);
  return { accountId, deviceId: approved.deviceId, token, keys: companion };
}

/** Registers an account on a new phone and links `companions` companions, all signed in. */
export async function createTestAccount(
  accounts: GrpcTestClient,
  linking: GrpcTestClient,
  companions = 0,
): Promise<TestAccount> {
  const phone = newDevice();
  const phoneNumber = newPhoneNumber();
  const { accountId } = await accounts.call<RegisterResponse>('Register', {
    phoneNumber,
    identityKey: phone.identityKey,
    registrationId: phone.registrationId,
    deviceName: 'Pixel 9',
  });
  const primary = { accountId, deviceId: 1, token: await signIn(linking, phone, accountId, 1), keys: phone };
  const devices: SignedInDevice[] = [primary];
  for (let index = 1; index <= companions; index++) {
    devices.push(await linkCompanion(linking, primary, `Laptop ${index}`));
  }
  return { accountId, phoneNumber, primary, devices };
}

/** What a test client "encrypts" for one device: distinct per message and device. */
export const testCiphertext = (clientMessageId: string, accountId: string, deviceId: number): Buffer =>
  Buffer.from(`ciphertext of ${clientMessageId} for ${accountId}/${deviceId}`);

/** One device's envelope of a test message. */
export const testEnvelope = (clientMessageId: string, accountId: string, device: DeviceKeys): Envelope => ({
  accountId,
  deviceId: device.deviceId,
  registrationId: device.registrationId,
  type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
  content: testCiphertext(clientMessageId, accountId, device.deviceId),
});

/**
 * A message from `sender` to an account, encrypted as a client does: one envelope for each device
 * of the recipient's current list and each of the sender's other devices.
 */
export async function testMessage(
  linking: GrpcTestClient,
  sender: SignedInDevice,
  recipientAccountId: string,
  clientMessageId: string,
): Promise<SendRequest> {
  const list = (accountId: string) =>
    linking.call<GetDeviceListResponse>('GetDeviceList', { accountId }, sender.token);
  const [recipient, own] = await Promise.all([list(recipientAccountId), list(sender.accountId)]);
  const others = own.devices.filter((device) => device.deviceId !== sender.deviceId);
  return {
    recipientAccountId,
    clientMessageId,
    recipientListVersion: recipient.listVersion,
    envelopes:
      recipientAccountId === sender.accountId
        ? others.map((device) => testEnvelope(clientMessageId, sender.accountId, device))
        : [
            ...recipient.devices.map((device) => testEnvelope(clientMessageId, recipientAccountId, device)),
            ...others.map((device) => testEnvelope(clientMessageId, sender.accountId, device)),
          ],
  };
}
