import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import type {
  GetLatestBackupResponse,
  ListBackupsResponse,
  RecordBackupResponse,
} from '@tandem/contracts/tandem/backups/v1/backups_service';
import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import type { GetInboxStatusResponse, SendResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { FIELD_METADATA_KEY } from '@tandem/grpc';
import {
  createTestAccount,
  type DiscoveredRpc,
  discoverRpcs,
  eventually,
  grpcFailure,
  GrpcTestClient,
  type ServiceProcess,
  services,
  startServiceProcess,
  type TestAccount,
  testMessage,
} from '@tandem/harness';
import type { Type } from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const INT64_MAX = '9223372036854775807';
const UINT64_MAX = '18446744073709551615';
const tooBig = (field: string) => `${field} must be at most ${MAX_SAFE}`;

const integers64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** A request holding the largest value of one 64-bit field, and that field's dotted path. */
interface LargeValueRequest {
  readonly path: string;
  readonly request: object;
}

/** For every 64-bit integer field of `type`, nested ones too: a request with its largest value. */
function largeValueRequests(type: Type, depth = 0): LargeValueRequest[] {
  return type.fieldsArray.flatMap((field): LargeValueRequest[] => {
    if (field.map) return [];
    const resolved = field.resolve().resolvedType;
    const wrap = (inner: LargeValueRequest): LargeValueRequest => ({
      path: [snakeCase(field.name), inner.path].filter(Boolean).join('.'),
      request: { [field.name]: field.repeated ? [inner.request] : inner.request },
    });
    if (resolved && 'fieldsArray' in resolved) {
      return depth < 4 ? largeValueRequests(resolved as Type, depth + 1).map(wrap) : [];
    }
    if (!integers64.has(field.type)) return [];
    const largest = field.type.startsWith('u') || field.type === 'fixed64' ? UINT64_MAX : INT64_MAX;
    return [{ path: snakeCase(field.name), request: { [field.name]: field.repeated ? [largest] : largest } }];
  });
}

/**
 * 64-bit integers in requests, against npm start's process: Tandem decodes them into JavaScript
 * numbers, so a value a number cannot hold exactly is refused with INVALID_ARGUMENT naming the
 * field and the range, and changes nothing; up to 2^53 - 1 it is taken exactly.
 */
describe('64-bit numbers in requests, to npm start (every service in one process)', () => {
  let tandem: ServiceProcess;
  let dataDir: string;
  let raw: Client;
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let fanout: GrpcTestClient;
  let backups: GrpcTestClient;
  let alice: TestAccount;
  let bob: TestAccount;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
    tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
    raw = new Client(tandem.address, credentials.createInsecure());
    const client = (service: (typeof services)[keyof typeof services]) =>
      new GrpcTestClient(tandem.address, service);
    [accounts, linking, fanout, backups] = [
      client(services.accounts),
      client(services.linking),
      client(services.fanout),
      client(services.backups),
    ];
    [alice, bob] = await Promise.all([
      createTestAccount(accounts, linking),
      createTestAccount(accounts, linking),
    ]);
    // Until backups and fanout have learned of the new devices, they answer UNAUTHENTICATED.
    await eventually(() => backups.call('ListBackups', { accountId: alice.accountId }, alice.primary.token));
    for (const { primary } of [alice, bob]) {
      await eventually(() => fanout.call('GetInboxStatus', {}, primary.token));
    }
  });

  afterAll(async () => {
    for (const each of [accounts, linking, fanout, backups]) each?.close();
    raw?.close();
    await tandem?.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const backup = (backupId: string, sizeBytes: number | string) => ({
    accountId: alice.accountId,
    backupId,
    provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
    sizeBytes,
    sha256: createHash('sha256').update(backupId).digest(),
    endToEndEncrypted: true,
    keyReference: 'hsm-vault:eu-1/backup-key-v2',
    messageCount: 12,
    mediaCount: 3,
    createdAt: new Date(),
  });

  it('refuses a backup of 2^63 - 1 bytes, naming size_bytes and its range, and records nothing', async () => {
    const refused = await grpcFailure(
      backups.call('RecordBackup', backup('too-big', INT64_MAX), alice.primary.token),
    );
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toBe(tooBig('size_bytes'));
    expect(refused.metadata.get(FIELD_METADATA_KEY)).toEqual(['size_bytes']);

    const list = await backups.call<ListBackupsResponse>(
      'ListBackups',
      { accountId: alice.accountId },
      alice.primary.token,
    );
    expect(list.backups).toEqual([]);
  });

  it('records a backup of 2^53 - 1 bytes exactly', async () => {
    const recorded = await backups.call<RecordBackupResponse>(
      'RecordBackup',
      backup('largest', MAX_SAFE),
      alice.primary.token,
    );
    expect(recorded.backup?.sizeBytes).toBe(MAX_SAFE);
    // The read model follows the event: NOT_FOUND until it has it.
    const latest = await eventually(() =>
      backups.call<GetLatestBackupResponse>(
        'GetLatestBackup',
        { accountId: alice.accountId, provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE },
        alice.primary.token,
      ),
    );
    expect(latest.backup).toMatchObject({ backupId: 'largest', sizeBytes: MAX_SAFE });
  });

  it('refuses a Send for recipient list version 2^64 - 1, delivering nothing, and takes the same message for the true version', async () => {
    const message = await testMessage(linking, alice.primary, bob.accountId, 'large-version');
    const inbox = () => fanout.call<GetInboxStatusResponse>('GetInboxStatus', {}, bob.primary.token);
    const before = await inbox();
    const refused = await grpcFailure(
      fanout.call('Send', { ...message, recipientListVersion: UINT64_MAX }, alice.primary.token),
    );
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toBe(tooBig('recipient_list_version'));
    expect(refused.metadata.get(FIELD_METADATA_KEY)).toEqual(['recipient_list_version']);
    expect(await inbox()).toEqual(before);

    // Had the refused Send been accepted, this one would be its retry.
    const sent = await eventually(() => fanout.call<SendResponse>('Send', message, alice.primary.token), {
      retryOn: [status.FAILED_PRECONDITION],
    });
    expect(sent.duplicate).toBe(false);
  });

  /**
   * Sends `request` to `rpc` as its only request message, with a valid token; resolves with the
   * status it ends with.
   */
  const callWith = (rpc: DiscoveredRpc, request: object) =>
    new Promise<{ code: status; details: string; field: unknown }>((done) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${alice.primary.token}`);
      const bytes = Buffer.from(rpc.requestType.encode(rpc.requestType.fromObject(request)).finish());
      const identity = (value: Buffer) => value;
      const answer = (code: status, details: string, metadata: Metadata) =>
        done({ code, details, field: metadata.get(FIELD_METADATA_KEY)[0] });
      if (!rpc.requestStream && !rpc.responseStream) {
        raw.makeUnaryRequest(rpc.path, identity, identity, bytes, metadata, (error) =>
          error ? answer(error.code, error.details, error.metadata) : answer(status.OK, '', new Metadata()),
        );
        return;
      }
      let call: NodeJS.EventEmitter;
      if (rpc.requestStream) {
        const stream = raw.makeBidiStreamRequest(rpc.path, identity, identity, metadata);
        stream.write(bytes);
        stream.end();
        call = stream;
      } else {
        call = raw.makeServerStreamRequest(rpc.path, identity, identity, bytes, metadata);
      }
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      call.on('status', (ended: { code: status; details: string; metadata: Metadata }) =>
        answer(ended.code, ended.details, ended.metadata),
      );
    });

  it('refuses the largest value of every 64-bit field of every request of every service, streams included', async () => {
    const rpcs = await discoverRpcs(tandem.address);
    const cases = rpcs.flatMap((rpc) =>
      largeValueRequests(rpc.requestType).map((each) => ({ rpc, ...each })),
    );
    const paths = cases.map(({ rpc, path }) => `${rpc.path} ${path}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/tandem.backups.v1.BackupsService/RecordBackup size_bytes',
        '/tandem.backups.v1.BackupsService/RecordBackup message_count',
        '/tandem.backups.v1.BackupsService/RecordBackup created_at.seconds',
        '/tandem.fanout.v1.FanoutService/Send recipient_list_version',
        '/tandem.fanout.v1.FanoutService/StreamInbox after_sequence',
        '/tandem.fanout.v1.FanoutService/Connect open.after_sequence',
        '/tandem.fanout.v1.FanoutService/Connect ack.through_sequence',
        '/tandem.fanout.v1.FanoutService/Ack through_sequence',
      ]),
    );

    for (const { rpc, path, request } of cases) {
      const answer = await callWith(rpc, request);
      expect({ call: `${rpc.path} ${path}`, ...answer }).toEqual({
        call: `${rpc.path} ${path}`,
        code: status.INVALID_ARGUMENT,
        details: tooBig(path),
        field: path,
      });
    }
  });
});
