import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { status } from '@grpc/grpc-js';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  BlockAccountResponse,
  GetAccountResponse,
  GetProfileResponse,
  ListBlockedAccountsResponse,
  LookupAccountResponse,
  RegisterResponse,
  UpdateProfileResponse,
  UpdateSettingsResponse,
} from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { BackupFrequency, LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import type { ListDevicesResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import {
  eventually,
  grpcFailure,
  GrpcTestClient,
  newDevice,
  newPhoneNumber,
  type ServiceProcess,
  services,
  signIn,
  startServiceProcess,
  TestInstallation,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';

/** Tandem as a user runs it: processes, real gRPC clients, and a way to count stored events. */
interface Deployment {
  readonly accounts: GrpcTestClient;
  readonly linking: GrpcTestClient;
  readonly addresses: readonly string[];
  /** Events in the accounts and linking event stores. */
  storedEvents(): Promise<number>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** accounts and linking as separate processes on the real Kafka broker and MongoDB-protocol server. */
async function distributed(): Promise<Deployment> {
  const infrastructure = testInfrastructure();
  const installation = new TestInstallation(uniqueName('e2e'), infrastructure);
  const start = () =>
    Promise.all([installation.start('accounts'), installation.start('linking', installation.signingKeyEnv)]);
  let processes: ServiceProcess[] = await start();
  const mongo = await MongoClient.connect(infrastructure.mongoUri);
  const clients = () => ({
    accounts: installation.client(processes[0]!, services.accounts),
    linking: installation.client(processes[1]!, services.linking),
  });
  const deployment = {
    ...clients(),
    addresses: processes.map((process) => process.address),
    async storedEvents() {
      let total = 0;
      for (const service of ['accounts', 'linking']) {
        const commits = mongo
          .db(`${installation.prefix}_${service}`)
          .collection<{ events: unknown[] }>('event_commits');
        for (const commit of await commits.find().toArray()) total += commit.events.length;
      }
      return total;
    },
    async restart() {
      for (const process of processes) expect(await process.stop('SIGTERM')).toBe(0);
      processes = await start();
      Object.assign(deployment, clients(), { addresses: processes.map((process) => process.address) });
    },
    async stop() {
      await installation.stop();
      await mongo.close();
    },
  };
  return deployment;
}

/** Every service in one process (`npm start`) on the embedded log and stores. */
async function embedded(): Promise<Deployment> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
  const start = () => startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
  let process = await start();
  const clients = () => ({
    accounts: new GrpcTestClient(process.address, services.accounts),
    linking: new GrpcTestClient(process.address, services.linking),
  });
  const deployment = {
    ...clients(),
    addresses: [process.address],
    async storedEvents() {
      let total = 0;
      for (const service of ['accounts', 'linking']) {
        const db = new DatabaseSync(join(dataDir, `${service}.event-store.sqlite`), { readOnly: true });
        total += Number((db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n);
        db.close();
      }
      return total;
    },
    async restart() {
      expect(await process.stop('SIGTERM')).toBe(0);
      process = await start();
      Object.assign(deployment, clients(), { addresses: [process.address] });
    },
    async stop() {
      await process.stop('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return deployment;
}

describe.each([
  { mode: 'distributed: accounts and linking as processes on Kafka and MongoDB', setUp: distributed },
  { mode: 'embedded: npm start, one process', setUp: embedded },
])('$mode', ({ setUp }) => {
  let tandem: Deployment;
  const primary = newDevice();
  const phoneNumber = newPhoneNumber();
  let accountId: string;
  let token: string;

  beforeAll(async () => {
    tandem = await setUp();
  });

  afterAll(async () => {
    await tandem?.stop();
  });

  it('answers gRPC health checks as SERVING', async () => {
    for (const address of tandem.addresses) {
      const health = new GrpcTestClient(address, services.health);
      await expect(health.call('Check', { service: '' })).resolves.toEqual({ status: 1 });
      health.close();
    }
  });

  it('registers an account and signs its primary in with the primary key', async () => {
    const registered = await tandem.accounts.call<RegisterResponse>('Register', {
      phoneNumber,
      identityKey: primary.identityKey,
      registrationId: primary.registrationId,
      deviceName: 'Pixel 9',
    });
    expect(registered.deviceId).toBe(1);
    accountId = registered.accountId;
    token = await signIn(tandem.linking, primary, accountId, 1);

    const devices = await eventually(() =>
      tandem.linking.call<ListDevicesResponse>('ListDevices', { accountId }, token),
    );
    expect(devices.devices).toMatchObject([
      { deviceId: 1, primary: true, name: 'Pixel 9', registrationId: primary.registrationId },
    ]);
    expect(Buffer.from(devices.devices[0]!.identityKey)).toEqual(primary.identityKey);
  });

  it('updates profile and settings, and the read model follows', async () => {
    const account = await eventually(() =>
      tandem.accounts.call<GetAccountResponse>('GetAccount', { accountId }, token),
    );
    expect(account.account).toMatchObject({ accountId, phoneNumber, version: 1 });

    const profile = await tandem.accounts.call<UpdateProfileResponse>(
      'UpdateProfile',
      { accountId, displayName: 'Ada', about: 'Hey there! I am using Tandem.' },
      token,
    );
    expect(profile).toEqual({
      profile: { displayName: 'Ada', about: 'Hey there! I am using Tandem.', avatarRef: '' },
      version: 2,
    });
    const partial = await tandem.accounts.call<UpdateProfileResponse>(
      'UpdateProfile',
      { accountId, avatarRef: 'blob://avatars/ada.jpg' },
      token,
    );
    expect(partial.profile).toEqual({
      displayName: 'Ada',
      about: 'Hey there! I am using Tandem.',
      avatarRef: 'blob://avatars/ada.jpg',
    });

    const settings = await tandem.accounts.call<UpdateSettingsResponse>(
      'UpdateSettings',
      {
        accountId,
        lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
        backupFrequency: BackupFrequency.BACKUP_FREQUENCY_WEEKLY,
        backupIncludeVideos: true,
      },
      token,
    );
    expect(settings).toEqual({
      settings: {
        lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
        backupFrequency: BackupFrequency.BACKUP_FREQUENCY_WEEKLY,
        backupWifiOnly: true,
        backupIncludeVideos: true,
      },
      version: 4,
    });

    const seen = await eventually(async () => {
      const read = await tandem.accounts.call<GetProfileResponse>('GetProfile', { accountId }, token);
      expect(read.version).toBe(4);
      return read;
    });
    expect(seen.profile).toEqual(partial.profile);
    await expect(
      tandem.accounts.call<LookupAccountResponse>('LookupAccount', { phoneNumber }, token),
    ).resolves.toEqual({ accountId });
  });

  it('refuses bad input with a clear status and records nothing', async () => {
    const before = await tandem.storedEvents();
    const other = newDevice();
    const register = (fields: object) =>
      tandem.accounts.call('Register', {
        phoneNumber: newPhoneNumber(),
        identityKey: other.identityKey,
        registrationId: 7,
        ...fields,
      });

    const badPhone = await grpcFailure(register({ phoneNumber: '0151 1234567' }));
    expect(badPhone.code).toBe(status.INVALID_ARGUMENT);
    expect(badPhone.details).toMatch(/phone_number/);
    expect(badPhone.metadata.get('tandem-field')).toEqual(['phone_number']);
    expect((await grpcFailure(register({ identityKey: Buffer.alloc(31) }))).code).toBe(
      status.INVALID_ARGUMENT,
    );
    expect((await grpcFailure(register({ registrationId: 0 }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcFailure(register({ deviceName: 'x'.repeat(65) }))).code).toBe(status.INVALID_ARGUMENT);

    const taken = await grpcFailure(register({ phoneNumber }));
    expect(taken.code).toBe(status.ALREADY_EXISTS);

    const tooLong = await grpcFailure(
      tandem.accounts.call('UpdateProfile', { accountId, displayName: 'x'.repeat(26) }, token),
    );
    expect(tooLong.code).toBe(status.INVALID_ARGUMENT);
    expect(tooLong.details).toMatch(/display_name/);
    const aboutTooLong = await grpcFailure(
      tandem.accounts.call('UpdateProfile', { accountId, about: 'x'.repeat(140) }, token),
    );
    expect(aboutTooLong.code).toBe(status.INVALID_ARGUMENT);
    const unknownSetting = await grpcFailure(
      tandem.accounts.call('UpdateSettings', { accountId, lastSeenVisibility: 9 }, token),
    );
    expect(unknownSetting.code).toBe(status.INVALID_ARGUMENT);

    const noToken = await grpcFailure(tandem.accounts.call('UpdateProfile', { accountId, about: 'x' }));
    expect(noToken.code).toBe(status.UNAUTHENTICATED);
    const forged = await grpcFailure(
      tandem.accounts.call('GetAccount', { accountId }, `${token.slice(0, -4)}AAAA`),
    );
    expect(forged.code).toBe(status.UNAUTHENTICATED);
    const wrongSignature = await grpcFailure(
      tandem.linking.call('SignIn', {
        accountId,
        deviceId: 1,
        challenge: Buffer.from('x'),
        signature: Buffer.alloc(64),
      }),
    );
    expect(wrongSignature.code).toBe(status.UNAUTHENTICATED);

    const mallory = newDevice();
    const { accountId: otherAccountId } = await tandem.accounts.call<RegisterResponse>('Register', {
      phoneNumber: newPhoneNumber(),
      identityKey: mallory.identityKey,
      registrationId: mallory.registrationId,
      deviceName: '',
    });
    const malloryToken = await signIn(tandem.linking, mallory, otherAccountId, 1);
    const afterMallory = await tandem.storedEvents();
    const foreign = await grpcFailure(
      eventually(() => tandem.accounts.call('UpdateProfile', { accountId, about: 'pwned' }, malloryToken), {
        retryOn: [status.UNAVAILABLE],
      }),
    );
    expect(foreign.code).toBe(status.PERMISSION_DENIED);
    expect((await grpcFailure(tandem.accounts.call('GetAccount', { accountId }, malloryToken))).code).toBe(
      status.PERMISSION_DENIED,
    );
    expect((await grpcFailure(tandem.linking.call('ListDevices', { accountId }, malloryToken))).code).toBe(
      status.PERMISSION_DENIED,
    );

    expect(afterMallory - before).toBe(3);
    expect(await tandem.storedEvents()).toBe(afterMallory);
    const account = await tandem.accounts.call<GetAccountResponse>('GetAccount', { accountId }, token);
    expect(account.account?.profile?.about).toBe('Hey there! I am using Tandem.');
  });

  it('keeps everything across a restart of every process', async () => {
    const before = await tandem.storedEvents();
    await tandem.restart();
    expect(await tandem.storedEvents()).toBe(before);

    token = await signIn(tandem.linking, primary, accountId, 1);
    const account = await eventually(() =>
      tandem.accounts.call<GetAccountResponse>('GetAccount', { accountId }, token),
    );
    expect(account.account).toMatchObject({
      accountId,
      phoneNumber,
      profile: { displayName: 'Ada', avatarRef: 'blob://avatars/ada.jpg' },
      settings: { lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY },
      version: 4,
    });
    const read = await tandem.accounts.call<GetProfileResponse>('GetProfile', { accountId }, token);
    expect(read.version).toBe(4);
  });

  it('blocks and unblocks another account; refuses itself, an unknown account and another account', async () => {
    const other = newDevice();
    const { accountId: otherAccountId } = await tandem.accounts.call<RegisterResponse>('Register', {
      phoneNumber: newPhoneNumber(),
      identityKey: other.identityKey,
      registrationId: other.registrationId,
      deviceName: 'Other phone',
    });
    const list = () =>
      tandem.accounts.call<ListBlockedAccountsResponse>('ListBlockedAccounts', { accountId }, token);

    const blocked = await tandem.accounts.call<BlockAccountResponse>(
      'BlockAccount',
      { accountId, blockedAccountId: otherAccountId },
      token,
    );
    expect(blocked).toEqual({ version: 5 });
    await expect(list()).resolves.toEqual({ blockedAccountIds: [otherAccountId], version: 5 });
    await expect(
      tandem.accounts.call('BlockAccount', { accountId, blockedAccountId: otherAccountId }, token),
    ).resolves.toEqual({ version: 5 });

    const before = await tandem.storedEvents();
    const refusals = [
      [{ accountId, blockedAccountId: accountId }, status.INVALID_ARGUMENT, /blocked_account_id/],
      [{ accountId, blockedAccountId: '' }, status.INVALID_ARGUMENT, /blocked_account_id/],
      [{ accountId, blockedAccountId: 'no-such-account' }, status.NOT_FOUND, /no account no-such-account/],
      [{ accountId: otherAccountId, blockedAccountId: accountId }, status.PERMISSION_DENIED, /./],
    ] as const;
    for (const [request, code, details] of refusals) {
      const failure = await grpcFailure(tandem.accounts.call('BlockAccount', request, token));
      expect(failure.code, JSON.stringify(request)).toBe(code);
      expect(failure.details).toMatch(details);
    }
    expect(await tandem.storedEvents()).toBe(before);

    await expect(
      tandem.accounts.call('UnblockAccount', { accountId, blockedAccountId: otherAccountId }, token),
    ).resolves.toEqual({ version: 6 });
    await expect(list()).resolves.toEqual({ blockedAccountIds: [], version: 6 });
  });

  it('deletes the account: its devices are unlinked, its tokens refused and its number free again', async () => {
    await tandem.accounts.call('DeleteAccount', { accountId }, token);
    const refused = await eventually(
      async () => {
        const failure = await grpcFailure(tandem.accounts.call('GetProfile', { accountId }, token));
        expect(failure.code).toBe(status.UNAUTHENTICATED);
        return failure;
      },
      { retryOn: [] },
    );
    expect(refused.details).toMatch(/not linked/);
    const challenge = await grpcFailure(
      tandem.linking.call('CreateSignInChallenge', { accountId, deviceId: 1 }),
    );
    expect(challenge.code).toBe(status.NOT_FOUND);

    const newPhone = newDevice();
    const again = await tandem.accounts.call<RegisterResponse>('Register', {
      phoneNumber,
      identityKey: newPhone.identityKey,
      registrationId: newPhone.registrationId,
      deviceName: 'New phone',
    });
    expect(again.accountId).not.toBe(accountId);
  });
});
