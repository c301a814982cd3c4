import { createHash } from 'node:crypto';
import { type Metadata, status } from '@grpc/grpc-js';
import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import type {
  DeleteBackupResponse,
  GetLatestBackupResponse,
  ListBackupsResponse,
  RecordBackupRequest,
  RecordBackupResponse,
} from '@tandem/contracts/tandem/backups/v1/backups_service';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { FIELD_METADATA_KEY } from '@tandem/grpc';
import {
  createTestAccount,
  entriesOf,
  eventually,
  fanoutStreamingClient,
  type FanoutStreamingClient,
  grpcFailure,
  type GrpcTestClient,
  type InboxStream,
  newDevice,
  oneofValue,
  openInboxStream,
  services,
  signInByKey,
  type TestAccount,
  TestInstallation,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const { BACKUP_PROVIDER_GOOGLE_DRIVE: DRIVE, BACKUP_PROVIDER_ICLOUD: ICLOUD } = BackupProvider;
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

/** A completed backup as a primary reports it. */
function backupRequest(
  accountId: string,
  backupId: string,
  createdAt: Date,
  overrides: Partial<RecordBackupRequest> = {},
): RecordBackupRequest {
  return {
    accountId,
    backupId,
    provider: DRIVE,
    providerName: '',
    sizeBytes: 250_000_000 + backupId.length,
    sha256: createHash('sha256').update(backupId).digest(),
    endToEndEncrypted: true,
    keyReference: 'hsm-vault:eu-1/backup-key-v2',
    messageCount: 18_204,
    mediaCount: 977,
    createdAt,
    mediaIds: [],
    ...overrides,
  };
}

const idsOf = (response: ListBackupsResponse) => response.backups.map((backup) => backup.backupId);

/**
 * Backup metadata with accounts, linking, fanout and backups as processes on Kafka and MongoDB,
 * keeping the newest two backups per provider: the primary records, each recorded backup reaches
 * the inbox of every one of the account's five devices, a companion only reads, records are
 * idempotent by backup id, bad input records nothing, a new phone that registered the number again
 * restores from the latest backup, and deleting the account purges the backups.
 */
describe('backup metadata, services as processes on Kafka and MongoDB', () => {
  const installation = new TestInstallation(uniqueName('e2e_backups'), testInfrastructure());
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let backups: GrpcTestClient;
  let streaming: FanoutStreamingClient;
  let mongo: MongoClient;
  const inboxes: InboxStream[] = [];

  let account: TestAccount;
  let phoneNumber: string;
  let accountId: string;
  let primaryToken: string;
  let companionToken: string;
  let newPhoneToken: string;
  const created = { oldest: minutesAgo(180), middle: minutesAgo(120), newest: minutesAgo(60) };
  let version: number;

  beforeAll(async () => {
    mongo = await MongoClient.connect(testInfrastructure().mongoUri);
    const [accountsProcess, linkingProcess, backupsProcess, fanoutProcess] = await Promise.all([
      installation.start('accounts'),
      installation.start('linking', { ...installation.signingKeyEnv, TANDEM_LINK_RATE_LIMIT: '50' }),
      installation.start('backups', { TANDEM_BACKUP_RETENTION: '2' }),
      installation.start('fanout'),
    ]);
    accounts = installation.client(accountsProcess, services.accounts);
    linking = installation.client(linkingProcess, services.linking);
    backups = installation.client(backupsProcess, services.backups);
    streaming = installation.connect(fanoutProcess, fanoutStreamingClient);

    account = await createTestAccount(accounts, linking, 4);
    ({ accountId, phoneNumber } = account);
    primaryToken = account.primary.token;
    companionToken = account.devices[1]!.token;
    for (const device of account.devices) {
      inboxes.push(await openInboxStream(streaming, device.token));
    }
  });

  afterAll(async () => {
    for (const stream of inboxes) stream.cancel();
    await installation.stop();
    await mongo?.close();
  });

  /** Calls the backups service, retrying while it has not learned of the device yet. */
  const call = <T>(method: string, request: object, token: string) =>
    eventually(() => backups.call<T>(method, request, token), { retryOn: [status.UNAVAILABLE] });

  const record = (request: RecordBackupRequest, token = primaryToken) =>
    call<RecordBackupResponse>('RecordBackup', request, token);

  /** The backup list once the read model reflects `atVersion`. */
  const listAt = (atVersion: number, token = primaryToken, request: object = {}) =>
    eventually(async () => {
      const list = await call<ListBackupsResponse>('ListBackups', { accountId, ...request }, token);
      expect(list.version).toBe(atVersion);
      return list;
    });

  /** The account's backup list document in the backups read model. */
  const readModel = () =>
    mongo
      .db(`${installation.prefix}_backups`)
      .collection('read_backup_lists')
      .findOne({ _id: accountId as never });

  it('keeps the two newest of three backups the primary records, pruning the oldest', async () => {
    const first = await record(backupRequest(accountId, 'backup-1', created.oldest));
    expect(first).toMatchObject({ recorded: true, prunedBackupIds: [], version: 1 });
    expect(first.backup).toMatchObject({ backupId: 'backup-1', recordedByDeviceId: 1 });
    await record(backupRequest(accountId, 'backup-2', created.middle));
    const third = await record(backupRequest(accountId, 'backup-3', created.newest));
    expect(third).toMatchObject({ recorded: true, prunedBackupIds: ['backup-1'], version: 4 });
    version = third.version;

    const list = await listAt(version);
    expect(idsOf(list)).toEqual(['backup-3', 'backup-2']);
    expect(list.nextPageToken).toBe('');
    const expected = backupRequest(accountId, 'backup-3', created.newest);
    expect(list.backups[0]).toMatchObject({
      provider: DRIVE,
      providerName: '',
      sizeBytes: expected.sizeBytes,
      sha256: expected.sha256,
      endToEndEncrypted: true,
      keyReference: expected.keyReference,
      messageCount: expected.messageCount,
      mediaCount: expected.mediaCount,
      createdAt: expected.createdAt,
      recordedByDeviceId: 1,
    });
  });

  it('delivers every recorded backup to the inbox of each of the five devices', async () => {
    const recorded = (stream: InboxStream) =>
      entriesOf(stream.items).filter(
        (entry) =>
          oneofValue(entry.content, 'system')?.kind === SystemEntryKind.SYSTEM_ENTRY_KIND_BACKUP_RECORDED,
      );
    expect(inboxes).toHaveLength(5);
    const seen = await Promise.all(
      inboxes.map((stream) =>
        stream.until(() => (recorded(stream).length >= 3 ? recorded(stream) : undefined), 30_000),
      ),
    );
    for (const entries of seen) {
      expect(entries).toHaveLength(3);
      expect(entries.map((entry) => oneofValue(entry.content, 'system')?.payloadType)).toEqual(
        Array(3).fill('tandem.backups.v1.BackupEvent'),
      );
      expect(entries.map((entry) => oneofValue(entry.content, 'system')?.sourceEventId)).toEqual(
        seen[0]!.map((entry) => oneofValue(entry.content, 'system')?.sourceEventId),
      );
    }
  });

  it('lets a companion read the backups but not record or delete them', async () => {
    expect(idsOf(await listAt(version, companionToken))).toEqual(['backup-3', 'backup-2']);
    const latest = await call<GetLatestBackupResponse>('GetLatestBackup', { accountId }, companionToken);
    expect(latest.backup?.backupId).toBe('backup-3');

    const recording = await grpcFailure(
      backups.call('RecordBackup', backupRequest(accountId, 'from-desktop', minutesAgo(1)), companionToken),
    );
    expect(recording.code).toBe(status.PERMISSION_DENIED);
    const deleting = await grpcFailure(
      backups.call('DeleteBackup', { accountId, backupId: 'backup-3' }, companionToken),
    );
    expect(deleting.code).toBe(status.PERMISSION_DENIED);
    const otherAccount = await grpcFailure(
      backups.call('ListBackups', { accountId: 'someone-else' }, companionToken),
    );
    expect(otherAccount.code).toBe(status.PERMISSION_DENIED);
    expect((await listAt(version)).backups).toHaveLength(2);
  });

  it('records nothing for the same backup again, and refuses other contents under its id', async () => {
    const again = await record(backupRequest(accountId, 'backup-3', created.newest));
    expect(again).toMatchObject({ recorded: false, prunedBackupIds: [], version });
    const pruned = await record(backupRequest(accountId, 'backup-1', created.oldest));
    expect(pruned).toMatchObject({ recorded: false, version });

    const conflicting = await grpcFailure(
      backups.call(
        'RecordBackup',
        backupRequest(accountId, 'backup-3', created.newest, { sizeBytes: 1 }),
        primaryToken,
      ),
    );
    expect(conflicting.code).toBe(status.ALREADY_EXISTS);
    expect(idsOf(await listAt(version))).toEqual(['backup-3', 'backup-2']);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, recording nothing', async () => {
    const cases: [Partial<RecordBackupRequest>, string][] = [
      [{ provider: BackupProvider.BACKUP_PROVIDER_UNSPECIFIED }, 'provider'],
      [{ provider: 42 as BackupProvider }, 'provider'],
      [{ provider: BackupProvider.BACKUP_PROVIDER_OTHER }, 'provider_name'],
      [{ sizeBytes: 0 }, 'size_bytes'],
      [{ sizeBytes: -4096 }, 'size_bytes'],
      [{ sha256: Buffer.from('not a sha-256') }, 'sha256'],
      [{ backupId: 'daily backup!' }, 'backup_id'],
      [{ backupId: 'x'.repeat(129) }, 'backup_id'],
      [{ keyReference: '' }, 'key_reference'],
      [{ messageCount: -1 }, 'message_count'],
      [{ mediaCount: -1 }, 'media_count'],
      [{ mediaIds: ['AAAAAAAAAAAAAAAAAAAAAA', 'not a media id'] }, 'media_ids'],
      [{ mediaIds: ['AAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAA'] }, 'media_ids'],
      [{ createdAt: undefined }, 'created_at'],
      [{ createdAt: new Date(Date.now() + 3_600_000) }, 'created_at'],
    ];
    for (const [overrides, field] of cases) {
      const failure = await grpcFailure(
        backups.call(
          'RecordBackup',
          backupRequest(accountId, 'backup-bad', minutesAgo(1), overrides),
          primaryToken,
        ),
      );
      expect(failure.code, field).toBe(status.INVALID_ARGUMENT);
      expect(failure.details).toMatch(new RegExp(`^${field}: `));
      expect((failure.metadata as Metadata).get(FIELD_METADATA_KEY)).toEqual([field]);
    }
    const badToken = await grpcFailure(
      backups.call('ListBackups', { accountId, pageToken: 'not-a-token' }, primaryToken),
    );
    expect(badToken.code).toBe(status.INVALID_ARGUMENT);
    const unchanged = await record(backupRequest(accountId, 'backup-3', created.newest));
    expect(unchanged.version).toBe(version);
  });

  it('keeps N per provider, pages newest first and deletes on the primary’s request', async () => {
    const iphone = await record(backupRequest(accountId, 'icloud-1', minutesAgo(30), { provider: ICLOUD }));
    expect(iphone.prunedBackupIds).toEqual([]);
    const firstPage = await listAt(iphone.version, primaryToken, { pageSize: 2 });
    expect(idsOf(firstPage)).toEqual(['icloud-1', 'backup-3']);
    const secondPage = await call<ListBackupsResponse>(
      'ListBackups',
      { accountId, pageSize: 2, pageToken: firstPage.nextPageToken },
      primaryToken,
    );
    expect(idsOf(secondPage)).toEqual(['backup-2']);
    expect(secondPage.nextPageToken).toBe('');
    const latestOnDrive = await call<GetLatestBackupResponse>(
      'GetLatestBackup',
      { accountId, provider: DRIVE },
      primaryToken,
    );
    expect(latestOnDrive.backup?.backupId).toBe('backup-3');

    const deleted = await call<DeleteBackupResponse>(
      'DeleteBackup',
      { accountId, backupId: 'icloud-1' },
      primaryToken,
    );
    version = deleted.version;
    expect(idsOf(await listAt(version))).toEqual(['backup-3', 'backup-2']);
    const again = await grpcFailure(
      backups.call('DeleteBackup', { accountId, backupId: 'icloud-1' }, primaryToken),
    );
    expect(again.code).toBe(status.NOT_FOUND);
    const noICloud = await grpcFailure(
      backups.call('GetLatestBackup', { accountId, provider: ICLOUD }, primaryToken),
    );
    expect(noICloud.code).toBe(status.NOT_FOUND);
  });

  it('keeps the backups when the number is registered on a new phone, which restores the newest', async () => {
    const newPhone = newDevice();
    const registered = await accounts.call<RegisterResponse>('Register', {
      phoneNumber,
      identityKey: newPhone.identityKey,
      registrationId: newPhone.registrationId,
      deviceName: 'Pixel 10',
      reregister: true,
    });
    expect(registered).toMatchObject({ accountId, reregistered: true });
    const signedIn = await signInByKey(linking, newPhone, accountId);
    newPhoneToken = signedIn.token;

    const latest = await call<GetLatestBackupResponse>('GetLatestBackup', { accountId }, newPhoneToken);
    const expected = backupRequest(accountId, 'backup-3', created.newest);
    expect(latest.backup).toMatchObject({
      backupId: 'backup-3',
      sha256: expected.sha256,
      sizeBytes: expected.sizeBytes,
      keyReference: expected.keyReference,
      createdAt: expected.createdAt,
    });
    await eventually(
      async () => {
        const failure = await grpcFailure(backups.call('ListBackups', { accountId }, primaryToken));
        expect(failure.code).toBe(status.UNAUTHENTICATED);
      },
      { retryOn: [] },
    );

    const fromNewPhone = await record(backupRequest(accountId, 'backup-4', minutesAgo(5)), newPhoneToken);
    expect(fromNewPhone).toMatchObject({
      recorded: true,
      prunedBackupIds: ['backup-2'],
      backup: { recordedByDeviceId: signedIn.deviceId },
    });
    version = fromNewPhone.version;
    expect(idsOf(await listAt(version, newPhoneToken))).toEqual(['backup-4', 'backup-3']);
  });

  it('purges the backups when the account is deleted', async () => {
    // After the deletion every device is unlinked and its token refused, so the backups are
    // checked in the read model itself, as the linking e2e test reads the device directories.
    expect(await readModel()).toMatchObject({ version, purged: false, backups: [{}, {}] });
    await eventually(() => accounts.call('DeleteAccount', { accountId }, newPhoneToken), {
      retryOn: [status.UNAVAILABLE],
    });
    await eventually(async () =>
      expect(await readModel()).toEqual({
        _id: accountId,
        accountId,
        backups: [],
        purged: true,
        version: version + 1,
      }),
    );
    await eventually(
      async () => {
        const failure = await grpcFailure(backups.call('GetLatestBackup', { accountId }, newPhoneToken));
        expect(failure.code).toBe(status.UNAUTHENTICATED);
      },
      { retryOn: [] },
    );
  });
});
