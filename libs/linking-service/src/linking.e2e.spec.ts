import { type Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { MongoClient } from 'mongodb';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import {
  DeviceListChangeKind,
  type ApproveLinkResponse,
  type BeginLinkResponse,
  type GetDeviceListResponse,
  type ListDeviceListChangesResponse,
  type ListDevicesResponse,
  type WatchLinkResponse,
} from '@tandem/contracts/tandem/linking/v1/linking_service';
import {
  eventually,
  grpcFailure,
  type GrpcTestClient,
  newDevice,
  newPhoneNumber,
  type ServiceProcess,
  services,
  signDeviceList,
  signIn,
  signInByKey,
  type TestDevice,
  TestInstallation,
  watchProof,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The whole QR-code link flow with accounts and linking as processes on Kafka and MongoDB: four
 * companions linked, a fifth refused, a used session refused, a companion refused as approver,
 * an unlinked device's token refused everywhere, ids never reused, and an inactive primary's
 * companions unlinked, and the number re-registered on a new phone. After each step the device
 * list agrees between linking's API and the device directories the services keep.
 */
describe('linking companion devices, services as processes on Kafka and MongoDB', () => {
  const installation = new TestInstallation(uniqueName('e2e_link'), testInfrastructure());
  let linkingProcess: ServiceProcess;
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let mongo: MongoClient;
  const phoneNumber = newPhoneNumber();

  const primary = newDevice();
  let accountId: string;
  let primaryToken: string;
  let newPrimaryToken: string;
  /** The watch of a session never approved: still open when the linking process stops. */
  let unapprovedWatch: Promise<ServiceError | undefined>;
  const companions = new Map<number, { device: TestDevice; token: string }>();
  const sessionsByDevice = new Map<number, string>();

  const startLinking = async (extra: Record<string, string> = {}) => {
    linkingProcess = await installation.start('linking', {
      ...installation.signingKeyEnv,
      TANDEM_LINK_RATE_LIMIT: '50',
      ...extra,
    });
    linking = installation.client(linkingProcess, services.linking);
  };

  beforeAll(async () => {
    mongo = await MongoClient.connect(testInfrastructure().mongoUri);
    const [accountsProcess] = await Promise.all([
      installation.start('accounts'),
      installation.start('fanout'),
      startLinking(),
    ]);
    accounts = installation.client(accountsProcess, services.accounts);

    const registered = await accounts.call<RegisterResponse>('Register', {
      phoneNumber,
      identityKey: primary.identityKey,
      registrationId: primary.registrationId,
      deviceName: 'Pixel 9',
    });
    accountId = registered.accountId;
    primaryToken = await signIn(linking, primary, accountId, 1);
  });

  afterAll(async () => {
    await installation.stop();
    await mongo?.close();
  });

  const devices = () =>
    eventually(() => linking.call<ListDevicesResponse>('ListDevices', { accountId }, primaryToken));

  /** The companion shows a QR code, waits on its session, the primary scans and approves. */
  async function link(companion: TestDevice, name: string) {
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
    const list = await devices();
    const approval = linking.call<ApproveLinkResponse>(
      'ApproveLink',
      {
        accountId,
        sessionId: session.sessionId,
        identityKey: companion.identityKey,
        listVersion: list.listVersion + 1,
        listSignature: signDeviceList(primary, accountId, list.listVersion + 1, [
          ...list.devices,
          { deviceId: list.nextDeviceId, identityKey: companion.identityKey },
        ]),
      },
      primaryToken,
    );
    return { session, watched, approval, list };
  }

  /** The devices a service's device directory holds as linked for the account. */
  async function directory(service: 'accounts' | 'linking' | 'fanout') {
    const records = await mongo
      .db(`${installation.prefix}_${service}`)
      .collection('read_devices')
      .find({ accountId, linked: true })
      .toArray();
    return records
      .map((record) => ({
        deviceId: record['deviceId'] as number,
        identityKey: Buffer.from(record['identityKey'] as string, 'base64'),
        registrationId: record['registrationId'] as number,
      }))
      .sort((a, b) => a.deviceId - b.deviceId);
  }

  /** Fanout's device list of the account, the one it checks a Send's coverage against. */
  async function fanoutDeviceList() {
    const record = await mongo
      .db(`${installation.prefix}_fanout`)
      .collection('read_device_lists')
      .findOne({ _id: accountId as never });
    return {
      listVersion: record?.['listVersion'],
      devices: ((record?.['devices'] ?? []) as { deviceId: number; registrationId: number }[]).map(
        ({ deviceId, registrationId }) => ({ deviceId, registrationId }),
      ),
    };
  }

  /**
   * The device list as a sender gets it, as the account's devices list it, as the accounts,
   * linking and fanout services' device directories hold it, and fanout's device list (version
   * and devices) that Send is checked against, all the same.
   */
  async function expectListsAgree(token = primaryToken) {
    const list = await eventually(
      () => linking.call<GetDeviceListResponse>('GetDeviceList', { accountId }, token),
      { retryOn: [status.UNAVAILABLE] },
    );
    const own = await eventually(() =>
      linking.call<ListDevicesResponse>('ListDevices', { accountId }, token),
    );
    expect(list.listVersion).toBe(own.listVersion);
    expect(list.devices.map((device) => device.deviceId)).toEqual(
      own.devices.map((device) => device.deviceId).sort((a, b) => a - b),
    );
    expect(list.listHash).toMatch(/^[0-9a-f]{16}$/);
    for (const service of ['accounts', 'linking', 'fanout'] as const) {
      await eventually(async () => expect(await directory(service)).toEqual(list.devices));
    }
    await eventually(async () =>
      expect(await fanoutDeviceList()).toEqual({
        listVersion: list.listVersion,
        devices: list.devices.map(({ deviceId, registrationId }) => ({ deviceId, registrationId })),
      }),
    );
    return list;
  }

  it('links four companions through the QR flow; each signs in', async () => {
    const qrPattern = /^tandem:\/\/link\?v=1&s=[0-9a-f-]{36}&k=[A-Za-z0-9_-]{43}$/;
    for (let index = 1; index <= 4; index++) {
      const companion = newDevice();
      const { session, watched, approval, list } = await link(companion, `Laptop ${index}`);
      expect(session.qrPayload).toMatch(qrPattern);
      const approved = await approval;
      expect(approved).toEqual({ deviceId: list.nextDeviceId, listVersion: list.listVersion + 1 });
      expect(await watched).toMatchObject([
        { outcome: { $case: 'approved', value: { accountId, deviceId: approved.deviceId } } },
      ]);
      const token = await signIn(linking, companion, accountId, approved.deviceId);
      companions.set(approved.deviceId, { device: companion, token });
      sessionsByDevice.set(approved.deviceId, session.sessionId);
      await eventually(() => accounts.call('GetAccount', { accountId }, token), {
        retryOn: [status.UNAVAILABLE],
      });
    }
    const list = await expectListsAgree();
    expect(list.devices.map((device) => device.deviceId)).toEqual([1, 2, 3, 4, 5]);
    expect(list.signedListVersion).toBe(list.listVersion);
  });

  it('refuses a fifth companion, a used session and an approval from a companion, recording nothing', async () => {
    const before = await expectListsAgree();
    const fifth = await link(newDevice(), 'One too many');
    unapprovedWatch = fifth.watched.then(
      () => undefined,
      (error: ServiceError) => error,
    );
    const refused = await grpcFailure(fifth.approval);
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/4 linked companion devices/);

    const companionToken = companions.get(2)!.token;
    const fromCompanion = await grpcFailure(
      linking.call(
        'ApproveLink',
        {
          accountId,
          sessionId: fifth.session.sessionId,
          identityKey: Buffer.alloc(32),
          listVersion: before.listVersion + 1,
          listSignature: Buffer.alloc(64),
        },
        companionToken,
      ),
    );
    expect(fromCompanion.code).toBe(status.PERMISSION_DENIED);

    const forgedWatch = await grpcFailure(
      linking.stream('WatchLink', { sessionId: fifth.session.sessionId, signature: Buffer.alloc(64, 1) }),
    );
    expect(forgedWatch.code).toBe(status.PERMISSION_DENIED);

    const usedSession = await grpcFailure(
      linking.call(
        'ApproveLink',
        {
          accountId,
          sessionId: sessionsByDevice.get(2),
          identityKey: companions.get(2)!.device.identityKey,
          listVersion: before.listVersion + 1,
          listSignature: Buffer.alloc(64),
        },
        primaryToken,
      ),
    );
    expect(usedSession.code).toBe(status.FAILED_PRECONDITION);
    expect((await expectListsAgree()).listVersion).toBe(before.listVersion);
  });

  it('unlinks a companion: its token is refused by every service within a second', async () => {
    const before = await devices();
    const remaining = before.devices.filter((device) => device.deviceId !== 3);
    const unlinked = await linking.call<{ listVersion: number }>(
      'UnlinkDevice',
      {
        accountId,
        deviceId: 3,
        listVersion: before.listVersion + 1,
        listSignature: signDeviceList(primary, accountId, before.listVersion + 1, remaining),
      },
      primaryToken,
    );
    expect(unlinked.listVersion).toBe(before.listVersion + 1);
    const token = companions.get(3)!.token;
    for (const client of [accounts, linking]) {
      await eventually(
        async () => {
          const failure = await grpcFailure(
            client === accounts
              ? accounts.call('GetAccount', { accountId }, token)
              : linking.call('ListDevices', { accountId }, token),
          );
          expect(failure.code).toBe(status.UNAUTHENTICATED);
        },
        { retryOn: [] },
      );
    }
    for (const service of ['accounts', 'linking', 'fanout'] as const) {
      const record = await eventually(async () => {
        const found = await mongo
          .db(`${installation.prefix}_${service}`)
          .collection('read_devices')
          .findOne({ _id: `${accountId}:3` as never });
        expect(found?.['linked']).toBe(false);
        return found!;
      });
      const delayMs = Date.parse(record['appliedAt'] as string) - Date.parse(record['changedAt'] as string);
      console.log(`DeviceUnlinked reached ${service} ${delayMs} ms after it happened`);
      expect(delayMs).toBeLessThan(1_000);
    }
  });

  it('links a new companion with a new id, never reusing one', async () => {
    const companion = newDevice();
    const { approval, watched } = await link(companion, 'Tablet');
    const approved = await approval;
    expect(approved.deviceId).toBe(6);
    expect(await watched).toMatchObject([
      { outcome: { $case: 'approved', value: { accountId, deviceId: 6 } } },
    ]);
    await expectListsAgree();
  });

  it('unlinks the companions of a primary inactive past the threshold', async () => {
    await linkingProcess.stop();
    expect((await unapprovedWatch)?.code).toBe(status.UNAVAILABLE);
    await startLinking({ TANDEM_PRIMARY_INACTIVITY_SECONDS: '1', TANDEM_SWEEP_INTERVAL_SECONDS: '1' });
    await eventually(async () => {
      const current = await linking.call<GetDeviceListResponse>('GetDeviceList', { accountId }, primaryToken);
      expect(current.devices.map((device) => device.deviceId)).toEqual([1]);
    });
    const list = await expectListsAgree();
    expect(list.signedListVersion).toBe(0);
    const changes = await linking.call<ListDeviceListChangesResponse>(
      'ListDeviceListChanges',
      { accountId, limit: 4 },
      primaryToken,
    );
    expect(changes.changes.map((change) => change.reason)).toEqual([
      'PRIMARY_INACTIVE',
      'PRIMARY_INACTIVE',
      'PRIMARY_INACTIVE',
      'PRIMARY_INACTIVE',
    ]);
  });

  it('re-registers the number on a new phone: the old devices go, the account stays', async () => {
    const newPhone = newDevice();
    const registered = await accounts.call<RegisterResponse>('Register', {
      phoneNumber,
      identityKey: newPhone.identityKey,
      registrationId: newPhone.registrationId,
      deviceName: 'Pixel 10',
      reregister: true,
    });
    expect(registered).toEqual({ accountId, deviceId: 0, reregistered: true });

    const { token, deviceId } = await signInByKey(linking, newPhone, accountId);
    newPrimaryToken = token;
    expect(deviceId).toBe(7);
    const list = await expectListsAgree(token);
    expect(list.devices).toEqual([
      { deviceId: 7, identityKey: newPhone.identityKey, registrationId: newPhone.registrationId },
    ]);
    for (const call of [
      () => accounts.call('GetAccount', { accountId }, primaryToken),
      () => linking.call('ListDevices', { accountId }, primaryToken),
    ]) {
      expect((await grpcFailure(call())).code).toBe(status.UNAUTHENTICATED);
    }
    const account = await eventually(
      () => accounts.call<{ account: { phoneNumber: string } }>('GetAccount', { accountId }, token),
      { retryOn: [status.UNAVAILABLE] },
    );
    expect(account.account.phoneNumber).toBe(phoneNumber);

    const changes = await linking.call<ListDeviceListChangesResponse>(
      'ListDeviceListChanges',
      { accountId, limit: 2 },
      token,
    );
    expect(changes.changes.map(({ kind, deviceId, reason }) => ({ kind, deviceId, reason }))).toEqual([
      { kind: DeviceListChangeKind.DEVICE_LIST_CHANGE_KIND_LINKED, deviceId: 7, reason: '' },
      {
        kind: DeviceListChangeKind.DEVICE_LIST_CHANGE_KIND_UNLINKED,
        deviceId: 1,
        reason: 'ACCOUNT_REREGISTERED',
      },
    ]);
  });

  it('refuses a taken number without reregister, recording nothing', async () => {
    const before = await expectListsAgree(newPrimaryToken);
    const other = newDevice();
    const refused = await grpcFailure(
      accounts.call('Register', {
        phoneNumber,
        identityKey: other.identityKey,
        registrationId: other.registrationId,
      }),
    );
    expect(refused.code).toBe(status.ALREADY_EXISTS);
    expect(await expectListsAgree(newPrimaryToken)).toEqual(before);
  });

  it('limits link sessions per source address', async () => {
    await linkingProcess.stop();
    await startLinking({ TANDEM_LINK_RATE_LIMIT: '2' });
    const begin = () => {
      const companion = newDevice();
      return linking.call<BeginLinkResponse>('BeginLink', {
        identityKey: companion.identityKey,
        registrationId: companion.registrationId,
      });
    };
    await begin();
    await begin();
    const limited = await grpcFailure(begin());
    expect(limited.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(Number((limited.metadata as Metadata).get('retry-after-ms')[0])).toBeGreaterThan(0);
  });
});
