import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServiceError, status } from '@grpc/grpc-js';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { type HistoryBundleAnnounced, MediaEvent } from '@tandem/contracts/tandem/media/v1/events';
import { SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { ListDevicesResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import { BackupProvider } from '@tandem/contracts/tandem/backups/v1/backup';
import type {
  RecordBackupRequest,
  RecordBackupResponse,
} from '@tandem/contracts/tandem/backups/v1/backups_service';
import {
  type AnnounceHistoryBundleResponse,
  type GetHistoryBundleResponse,
  HistoryBundleState,
  type ReceiveHistoryBundlePartResponse,
  type GetDownloadUrlResponse,
  type GetMediaResponse,
  type CompleteUploadResponse,
  type GetUploadStatusResponse,
  type GetUploadUrlsResponse,
  type StartUploadResponse,
  type UploadResponse,
} from '@tandem/contracts/tandem/media/v1/media_service';
import { DETAILS_METADATA_KEY, FIELD_METADATA_KEY } from '@tandem/grpc';
import {
  createTestAccount,
  downloadMedia,
  entriesOf,
  eventually,
  type FanoutStreamingClient,
  fanoutStreamingClient,
  grpcFailure,
  GrpcTestClient,
  linkCompanion,
  type MediaStreamingClient,
  mediaStreamingClient,
  messagesOf,
  oneofValue,
  openInboxStream,
  sendUpload,
  type ServiceProcess,
  services,
  signDeviceList,
  startServiceProcess,
  type TestAccount,
  TestInstallation,
  testMessage,
} from '@tandem/harness';
import { testInfrastructure, testS3, uniqueBucket, uniqueName } from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MiB = 1024 * 1024;
const MAX_BYTES = 24 * MiB;
const QUOTA_BYTES = 60 * MiB;
const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();
/** Where the embedded blob store keeps the blob of these bytes: by their SHA-256. */
const contentPath = (dataDir: string, bytes: Uint8Array) =>
  join(dataDir, 'media', 'blobs', 'sha256', sha256Of(bytes).toString('hex'));

/** Clients of one running installation, embedded or distributed. */
interface Installation {
  readonly accounts: GrpcTestClient;
  readonly backups: GrpcTestClient;
  readonly linking: GrpcTestClient;
  readonly media: GrpcTestClient;
  readonly streaming: MediaStreamingClient;
  readonly fanout: GrpcTestClient;
  readonly inboxes: FanoutStreamingClient;
  /** Whether the media service keeps files in its data folder (it must not on S3). */
  blobsInDataFolder(): boolean;
  /** The stored blobs, as names below `blobs/`: `sha256/<hex>` for content-addressed ones. */
  storedBlobs(): Promise<string[]>;
  stop(): Promise<void>;
}

async function embedded(extraEnv: Readonly<Record<string, string>> = {}): Promise<Installation> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-media-e2e-'));
  const tandem: ServiceProcess = await startServiceProcess('tandem', {
    TANDEM_DATA_DIR: dataDir,
    TANDEM_LINK_RATE_LIMIT: '50',
    TANDEM_MEDIA_MAX_BYTES: String(MAX_BYTES),
    TANDEM_MEDIA_QUOTA_BYTES: String(QUOTA_BYTES),
    ...extraEnv,
  });
  const client = (service: (typeof services)[keyof typeof services]) =>
    new GrpcTestClient(tandem.address, service);
  const installation = {
    accounts: client(services.accounts),
    backups: client(services.backups),
    linking: client(services.linking),
    media: client(services.media),
    streaming: mediaStreamingClient(tandem.address),
    fanout: client(services.fanout),
    inboxes: fanoutStreamingClient(tandem.address),
  };
  return {
    ...installation,
    blobsInDataFolder: () => existsSync(join(dataDir, 'media', 'blobs')),
    storedBlobs: async () => {
      const blobs = join(dataDir, 'media', 'blobs');
      if (!existsSync(blobs)) return [];
      return readdirSync(blobs, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(blobs.length + 1));
    },
    async stop() {
      for (const closable of Object.values(installation)) closable.close();
      await tandem.stop('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function distributed(extraEnv: Readonly<Record<string, string>> = {}): Promise<Installation> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-media-e2e-'));
  const installation = new TestInstallation(uniqueName('e2e_media'), testInfrastructure());
  const s3 = testS3();
  const bucket = uniqueBucket('e2e-media');
  const [accounts, backups, linking, media, fanout] = await Promise.all([
    installation.start('accounts'),
    installation.start('backups', extraEnv),
    installation.start('linking', { ...installation.signingKeyEnv, TANDEM_LINK_RATE_LIMIT: '50' }),
    installation.start('media', {
      TANDEM_DATA_DIR: dataDir,
      TANDEM_MEDIA_MAX_BYTES: String(MAX_BYTES),
      TANDEM_MEDIA_QUOTA_BYTES: String(QUOTA_BYTES),
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      TANDEM_MEDIA_S3_BUCKET: bucket,
      ...extraEnv,
    }),
    installation.start('fanout'),
  ]);
  return {
    accounts: installation.client(accounts, services.accounts),
    backups: installation.client(backups, services.backups),
    linking: installation.client(linking, services.linking),
    media: installation.client(media, services.media),
    streaming: installation.connect(media, (address) => mediaStreamingClient(address)),
    fanout: installation.client(fanout, services.fanout),
    inboxes: installation.connect(fanout, (address) => fanoutStreamingClient(address)),
    blobsInDataFolder: () => existsSync(join(dataDir, 'media')),
    storedBlobs: async () => {
      const client = new S3Client({
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        forcePathStyle: true,
      });
      try {
        const names: string[] = [];
        let token: string | undefined;
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: 'blobs/', ContinuationToken: token }),
          );
          names.push(...(page.Contents ?? []).map((object) => object.Key!.slice('blobs/'.length)));
          token = page.NextContinuationToken;
        } while (token);
        return names;
      } finally {
        client.destroy();
      }
    },
    async stop() {
      await installation.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const modes = [
  { mode: 'embedded (every service in one process, blobs in the data folder)', open: embedded, onS3: false },
  { mode: 'distributed (services as processes on Kafka, MongoDB and S3)', open: distributed, onS3: true },
];

/**
 * Media end to end: a 20 MiB encrypted blob uploaded by alice's phone, the connection lost halfway
 * and the upload resumed from the offset the service holds, its digest checked, then downloaded
 * by all five of alice's devices and by bob's; who may do what; bad input refused with a status.
 */
describe.each(modes)('media, $mode', ({ open, onS3 }) => {
  let installation: Installation;
  let alice: TestAccount;
  let bob: TestAccount;
  const blob = randomBytes(20 * MiB);
  const digest = sha256Of(blob);

  beforeAll(async () => {
    installation = await open();
    alice = await createTestAccount(installation.accounts, installation.linking, 4);
    bob = await createTestAccount(installation.accounts, installation.linking, 1);
  });

  afterAll(async () => {
    await installation?.stop();
  });

  /** Calls the media service, retrying while it has not learned of the device yet. */
  const call = <T>(method: string, request: object, token: string) =>
    eventually(() => installation.media.call<T>(method, request, token), { retryOn: [status.UNAVAILABLE] });

  const start = (token: string, sizeBytes: number, sha256: Uint8Array) =>
    call<StartUploadResponse>('StartUpload', { sizeBytes, sha256 }, token);

  const status_ = (mediaId: string, token: string) =>
    call<GetUploadStatusResponse>('GetUploadStatus', { mediaId }, token);

  /** Sends the rest of `bytes` from where the service says the upload stands, until it answers. */
  async function resume(
    mediaId: string,
    token: string,
    bytes: Buffer,
  ): Promise<{ response: UploadResponse; from: number }> {
    for (let attempt = 0; ; attempt++) {
      const { committedOffset } = await status_(mediaId, token);
      const from = Number(committedOffset);
      try {
        const response = await sendUpload(installation.streaming, token, mediaId, from, bytes.subarray(from));
        if (response === 'cancelled') throw new Error('not cancelled');
        return { response, from };
      } catch (error) {
        const code = (error as ServiceError).code;
        // The interrupted call may still be writing what it had received: ask again.
        if (attempt > 20 || (code !== status.ABORTED && code !== status.FAILED_PRECONDITION)) throw error;
        await new Promise((done) => setTimeout(done, 200));
      }
    }
  }

  describe('when the phone uploads 20 MiB and loses its connection halfway', () => {
    let mediaId: string;
    let interruptedAt: number;

    it('keeps the bytes that arrived, and the upload completes from there with the digest checked', async () => {
      const started = await start(alice.primary.token, blob.length, digest);
      mediaId = started.mediaId;
      expect(mediaId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(started.maxChunkBytes).toBe(MiB);

      const cut = await sendUpload(installation.streaming, alice.primary.token, mediaId, 0, blob, {
        cancelAfterBytes: 10 * MiB,
      });
      expect(cut).toBe('cancelled');
      const held = await status_(mediaId, alice.primary.token);
      interruptedAt = Number(held.committedOffset);
      expect(interruptedAt).toBeGreaterThan(0);
      expect(interruptedAt).toBeLessThanOrEqual(10 * MiB);
      expect(held.completed).toBe(false);
      expect(Number(held.sizeBytes)).toBe(blob.length);

      const { response, from } = await resume(mediaId, alice.primary.token, blob);
      expect(from).toBeGreaterThanOrEqual(interruptedAt);
      expect(from).toBeLessThanOrEqual(10 * MiB);
      expect(response.completed).toBe(true);
      expect(Number(response.committedOffset)).toBe(blob.length);
      expect(Buffer.from(response.media!.sha256).equals(digest)).toBe(true);
      expect(Number(response.media!.sizeBytes)).toBe(blob.length);

      const after = await status_(mediaId, alice.devices[3]!.token);
      expect(after.completed).toBe(true);
      expect(Number(after.committedOffset)).toBe(blob.length);
      expect(installation.blobsInDataFolder()).toBe(!onS3);
    });

    it('is downloaded whole by each of alice five devices and by bob', async () => {
      for (const device of [...alice.devices, bob.primary]) {
        const { bytes, media, offsets } = await eventually(
          () => downloadMedia(installation.streaming, device.token, { mediaId, offset: 0, length: 0 }),
          { retryOn: [status.UNAVAILABLE] },
        );
        expect(bytes.length).toBe(blob.length);
        expect(sha256Of(bytes).equals(digest)).toBe(true);
        expect(Buffer.from(media!.sha256).equals(digest)).toBe(true);
        expect(offsets[0]).toBe(0);
        expect(offsets.length).toBe(20);
      }
    });

    it('sends a range, clipped at the end, and refuses an offset past the end with OUT_OF_RANGE', async () => {
      const range = await downloadMedia(installation.streaming, bob.primary.token, {
        mediaId,
        offset: 5 * MiB + 7,
        length: 3 * MiB,
      });
      expect(range.bytes.equals(blob.subarray(5 * MiB + 7, 8 * MiB + 7))).toBe(true);
      expect(range.offsets[0]).toBe(5 * MiB + 7);
      const tail = await downloadMedia(installation.streaming, bob.primary.token, {
        mediaId,
        offset: blob.length - 10,
        length: 1000,
      });
      expect(tail.bytes.equals(blob.subarray(-10))).toBe(true);
      const past = await grpcFailure(
        downloadMedia(installation.streaming, bob.primary.token, { mediaId, offset: blob.length, length: 0 }),
      );
      expect(past.code).toBe(status.OUT_OF_RANGE);
    });

    it('gives a presigned URL on S3 that fetches a range straight from the store, and FAILED_PRECONDITION on files', async () => {
      if (!onS3) {
        const refused = await grpcFailure(call('GetDownloadUrl', { mediaId }, bob.primary.token));
        expect(refused.code).toBe(status.FAILED_PRECONDITION);
        return;
      }
      const { url } = await call<GetDownloadUrlResponse>('GetDownloadUrl', { mediaId }, bob.primary.token);
      const response = await fetch(url, { headers: { range: `bytes=${MiB}-${MiB + 99}` } });
      expect(response.status).toBe(206);
      expect(Buffer.from(await response.arrayBuffer()).equals(blob.subarray(MiB, MiB + 100))).toBe(true);
    });

    it('describes the blob to any device with GetMedia, and refuses more bytes for it', async () => {
      const { media } = await call<GetMediaResponse>('GetMedia', { mediaId }, bob.primary.token);
      expect(Number(media!.sizeBytes)).toBe(blob.length);
      expect(media!.expiresAt).toBeDefined();
      const more = await grpcFailure(
        sendUpload(installation.streaming, alice.primary.token, mediaId, 0, blob.subarray(0, 10)),
      );
      expect(more.code).toBe(status.FAILED_PRECONDITION);
    });
  });

  describe('who may do what', () => {
    let mediaId: string;
    const small = randomBytes(3000);

    beforeAll(async () => {
      ({ mediaId } = await start(alice.devices[1]!.token, small.length, sha256Of(small)));
    });

    it('lets another device of the uploading account send the bytes, and no device of another account', async () => {
      const denied = await grpcFailure(
        sendUpload(installation.streaming, bob.primary.token, mediaId, 0, small),
      );
      expect(denied.code).toBe(status.PERMISSION_DENIED);
      const asked = await grpcFailure(status_(mediaId, bob.primary.token));
      expect(asked.code).toBe(status.PERMISSION_DENIED);
      const response = await sendUpload(installation.streaming, alice.devices[2]!.token, mediaId, 0, small);
      expect(response).toMatchObject({ completed: true });
    });

    it('refuses a call without a token with UNAUTHENTICATED, and a download while the upload is not complete', async () => {
      const anonymous = await grpcFailure(installation.media.call('GetMedia', { mediaId }));
      expect(anonymous.code).toBe(status.UNAUTHENTICATED);
      const pending = await start(alice.primary.token, 10, sha256Of(Buffer.alloc(10)));
      const early = await grpcFailure(
        downloadMedia(installation.streaming, bob.primary.token, {
          mediaId: pending.mediaId,
          offset: 0,
          length: 0,
        }),
      );
      expect(early.code).toBe(status.NOT_FOUND);
    });
  });

  describe('presigned upload URLs', () => {
    /** PUTs a part's bytes to its presigned URL, straight into the object store. */
    async function put(part: GetUploadUrlsResponse['parts'][number], bytes: Buffer): Promise<void> {
      const offset = Number(part.offset);
      const response = await fetch(part.url, {
        method: 'PUT',
        body: bytes.subarray(offset, offset + Number(part.length)),
      });
      expect(response.status).toBe(200);
    }

    it('answers FAILED_PRECONDITION where the blobs are in the data folder, and CompleteUpload while bytes are missing', async () => {
      const bytes = randomBytes(1000);
      const { mediaId } = await start(alice.primary.token, bytes.length, sha256Of(bytes));
      const missing = await grpcFailure(call('CompleteUpload', { mediaId }, alice.primary.token));
      expect(missing.code).toBe(status.FAILED_PRECONDITION);
      expect(JSON.parse(String(missing.metadata.get(DETAILS_METADATA_KEY)[0]))).toEqual({
        committedOffset: 0,
      });
      if (onS3) return;
      const refused = await grpcFailure(call('GetUploadUrls', { mediaId }, alice.primary.token));
      expect(refused.code).toBe(status.FAILED_PRECONDITION);
      expect(refused.details).toMatch(/data folder/);
    });

    // Only an object store can hand out URLs; the data folder answers FAILED_PRECONDITION (above).
    if (onS3) {
      it('lets the uploading account PUT the parts straight to S3, resume with the missing ones, and complete with the digest checked', async () => {
        const bytes = randomBytes(9 * MiB + 77);
        const digest = sha256Of(bytes);
        const { mediaId } = await start(alice.devices[1]!.token, bytes.length, digest);

        const denied = await grpcFailure(call('GetUploadUrls', { mediaId }, bob.primary.token));
        expect(denied.code).toBe(status.PERMISSION_DENIED);

        const first = await call<GetUploadUrlsResponse>(
          'GetUploadUrls',
          { mediaId },
          alice.devices[1]!.token,
        );
        expect(Number(first.sizeBytes)).toBe(bytes.length);
        expect(Number(first.partBytes)).toBe(8 * MiB);
        expect(
          first.parts.map(({ partNumber, offset, length }) => [partNumber, Number(offset), Number(length)]),
        ).toEqual([
          [1, 0, 8 * MiB],
          [2, 8 * MiB, MiB + 77],
        ]);
        expect(first.urlsExpireAt).toBeDefined();
        // The URLs lead to the object store, not the service.
        expect(new URL(first.parts[0]!.url).port).toBe(new URL(testS3().endpoint).port);

        // The store takes a part's exact length only: nothing past the declared size lands.
        const tooLong = await fetch(first.parts[1]!.url, {
          method: 'PUT',
          body: Buffer.concat([bytes.subarray(8 * MiB), Buffer.from('more')]),
        });
        expect(tooLong.status).toBe(403);
        // The first part arrives, then the connection is lost: asking again answers the second only.
        await put(first.parts[0]!, bytes);
        const again = await call<GetUploadUrlsResponse>(
          'GetUploadUrls',
          { mediaId },
          alice.devices[2]!.token,
        );
        expect(again.parts.map((part) => part.partNumber)).toEqual([2]);
        const early = await grpcFailure(call('CompleteUpload', { mediaId }, alice.devices[1]!.token));
        expect(early.code).toBe(status.FAILED_PRECONDITION);
        expect(early.details).toMatch(/GetUploadUrls/);
        expect(JSON.parse(String(early.metadata.get(DETAILS_METADATA_KEY)[0]))).toEqual({
          committedOffset: 8 * MiB,
        });
        await put(again.parts[0]!, bytes);

        const notTheirs = await grpcFailure(call('CompleteUpload', { mediaId }, bob.primary.token));
        expect(notTheirs.code).toBe(status.PERMISSION_DENIED);
        const { media } = await call<CompleteUploadResponse>(
          'CompleteUpload',
          { mediaId },
          alice.devices[1]!.token,
        );
        expect(Number(media!.sizeBytes)).toBe(bytes.length);
        expect(Buffer.from(media!.sha256).equals(digest)).toBe(true);
        expect(media!.uploadedAt).toBeDefined();
        const repeated = await call<CompleteUploadResponse>(
          'CompleteUpload',
          { mediaId },
          alice.primary.token,
        );
        expect(Buffer.from(repeated.media!.sha256).equals(digest)).toBe(true);

        const downloaded = await downloadMedia(installation.streaming, bob.primary.token, {
          mediaId,
          offset: 0,
          length: 0,
        });
        expect(downloaded.bytes.equals(bytes)).toBe(true);
        const held = await status_(mediaId, alice.primary.token);
        expect(held.completed).toBe(true);
        const complete = await grpcFailure(call('GetUploadUrls', { mediaId }, alice.primary.token));
        expect(complete.code).toBe(status.FAILED_PRECONDITION);
      });
    }

    // Only an object store can hand out URLs; the data folder answers FAILED_PRECONDITION (above).
    if (onS3) {
      it('refuses bytes PUT there whose SHA-256 is not the declared one: they are discarded and nothing is recorded', async () => {
        const bytes = randomBytes(3000);
        const { mediaId } = await start(alice.primary.token, bytes.length, sha256Of(Buffer.from('other')));
        const { parts } = await call<GetUploadUrlsResponse>(
          'GetUploadUrls',
          { mediaId },
          alice.primary.token,
        );
        expect(parts.length).toBe(1);
        await put(parts[0]!, bytes);
        const rejected = await grpcFailure(call('CompleteUpload', { mediaId }, alice.primary.token));
        expect(rejected.code).toBe(status.FAILED_PRECONDITION);
        expect(rejected.details).toMatch(/SHA-256/);
        expect(JSON.parse(String(rejected.metadata.get(DETAILS_METADATA_KEY)[0]))).toEqual({
          committedOffset: 0,
        });
        const after = await status_(mediaId, alice.primary.token);
        expect(after.completed).toBe(false);
        expect(Number(after.committedOffset)).toBe(0);
        const absent = await grpcFailure(call('GetMedia', { mediaId }, bob.primary.token));
        expect(absent.code).toBe(status.NOT_FOUND);
        const fresh = await call<GetUploadUrlsResponse>('GetUploadUrls', { mediaId }, alice.primary.token);
        expect(fresh.parts.map((part) => part.partNumber)).toEqual([1]);
      });
    }
  });

  describe('bad input', () => {
    it('refuses a size above the maximum and a short digest, naming the field', async () => {
      const big = await grpcFailure(start(alice.primary.token, MAX_BYTES + 1, digest));
      expect(big.code).toBe(status.INVALID_ARGUMENT);
      expect(big.details).toBe(
        `size_bytes: must be at most ${MAX_BYTES} bytes, the largest blob this service keeps`,
      );
      expect(big.metadata.get(FIELD_METADATA_KEY)).toEqual(['size_bytes']);
      const short = await grpcFailure(start(alice.primary.token, 10, Buffer.alloc(16)));
      expect(short.metadata.get(FIELD_METADATA_KEY)).toEqual(['sha256']);
    });

    it('discards bytes whose SHA-256 is not the declared one, and the upload starts again at 0', async () => {
      const bytes = randomBytes(5000);
      const { mediaId } = await start(alice.primary.token, bytes.length, sha256Of(Buffer.from('other')));
      const rejected = await grpcFailure(
        sendUpload(installation.streaming, alice.primary.token, mediaId, 0, bytes),
      );
      expect(rejected.code).toBe(status.FAILED_PRECONDITION);
      expect(rejected.details).toMatch(/SHA-256/);
      expect(JSON.parse(String(rejected.metadata.get(DETAILS_METADATA_KEY)[0]))).toEqual({
        committedOffset: 0,
      });
      expect(Number((await status_(mediaId, alice.primary.token)).committedOffset)).toBe(0);
    });

    it('refuses an offset other than the committed one, saying which it is, and bytes past the declared size', async () => {
      const bytes = randomBytes(4000);
      const { mediaId } = await start(alice.primary.token, bytes.length, sha256Of(bytes));
      const first = await sendUpload(
        installation.streaming,
        alice.primary.token,
        mediaId,
        0,
        bytes.subarray(0, 1000),
      );
      expect(first).toMatchObject({ completed: false });
      // The filesystem keeps every byte; S3 only whole parts (8 MiB), so there nothing is committed yet.
      const committed = Number((first as UploadResponse).committedOffset);
      expect(committed).toBe(onS3 ? 0 : 1000);
      const skipped = await grpcFailure(
        sendUpload(
          installation.streaming,
          alice.primary.token,
          mediaId,
          committed + 1000,
          bytes.subarray(2000),
        ),
      );
      expect(skipped.code).toBe(status.FAILED_PRECONDITION);
      expect(JSON.parse(String(skipped.metadata.get(DETAILS_METADATA_KEY)[0]))).toEqual({
        committedOffset: committed,
      });
      const tooMuch = await grpcFailure(
        sendUpload(
          installation.streaming,
          alice.primary.token,
          mediaId,
          committed,
          randomBytes(4001 - committed),
        ),
      );
      expect(tooMuch.code).toBe(status.INVALID_ARGUMENT);
      expect(tooMuch.metadata.get(FIELD_METADATA_KEY)).toEqual(['chunk']);
    });

    it('refuses an upload past the account quota with RESOURCE_EXHAUSTED, saying what is used', async () => {
      const refused = await eventually(
        async () => {
          const failure = await grpcFailure(start(bob.primary.token, MAX_BYTES, digest));
          expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
          return failure;
        },
        { retryOn: [] },
      );
      expect(refused.details).toMatch(
        new RegExp(`^the account's media take \\d+ of its ${QUOTA_BYTES} bytes`),
      );
      const details = JSON.parse(String(refused.metadata.get(DETAILS_METADATA_KEY)[0])) as {
        usedBytes: number;
      };
      expect(details.usedBytes + MAX_BYTES).toBeGreaterThan(QUOTA_BYTES);
    });

    it('refuses a malformed media id with INVALID_ARGUMENT and an unknown one with NOT_FOUND', async () => {
      const malformed = await grpcFailure(
        call('GetMedia', { mediaId: '../../etc/passwd' }, bob.primary.token),
      );
      expect(malformed.code).toBe(status.INVALID_ARGUMENT);
      expect(malformed.metadata.get(FIELD_METADATA_KEY)).toEqual(['media_id']);
      const unknown = await grpcFailure(
        downloadMedia(installation.streaming, bob.primary.token, {
          mediaId: 'AAAAAAAAAAAAAAAAAAAAAA',
          offset: 0,
          length: 0,
        }),
      );
      expect(unknown.code).toBe(status.NOT_FOUND);
    });
  });

  describe('blocks and account deletion', () => {
    /** A small blob of `account`, uploaded and complete. */
    async function uploaded(account: TestAccount): Promise<{ mediaId: string; bytes: Buffer }> {
      const bytes = randomBytes(2000);
      const { mediaId } = await start(account.primary.token, bytes.length, sha256Of(bytes));
      const response = await sendUpload(installation.streaming, account.primary.token, mediaId, 0, bytes);
      expect(response).toMatchObject({ completed: true });
      return { mediaId, bytes };
    }

    it("refuses alice's media to an account that blocked her, with PERMISSION_DENIED, while bob still gets it", async () => {
      const carol = await createTestAccount(installation.accounts, installation.linking);
      const { mediaId, bytes } = await uploaded(alice);
      const before = await eventually(
        () => downloadMedia(installation.streaming, carol.primary.token, { mediaId, offset: 0, length: 0 }),
        { retryOn: [status.UNAVAILABLE] },
      );
      expect(before.bytes.equals(bytes)).toBe(true);
      await installation.accounts.call(
        'BlockAccount',
        { accountId: carol.accountId, blockedAccountId: alice.accountId },
        carol.primary.token,
      );
      const refused = await eventually(
        async () => {
          const failure = await grpcFailure(
            downloadMedia(installation.streaming, carol.primary.token, { mediaId, offset: 0, length: 0 }),
          );
          expect(failure.code).toBe(status.PERMISSION_DENIED);
          return failure;
        },
        { retryOn: [] },
      );
      expect(refused.details).toMatch(/block/);
      const stillBob = await downloadMedia(installation.streaming, bob.primary.token, {
        mediaId,
        offset: 0,
        length: 0,
      });
      expect(stillBob.bytes.equals(bytes)).toBe(true);
    });

    it("purges a deleted account's media: downloads then answer NOT_FOUND", async () => {
      const dave = await createTestAccount(installation.accounts, installation.linking);
      const { mediaId } = await eventually(() => uploaded(dave), { retryOn: [status.UNAVAILABLE] });
      const { mediaId: unfinished } = await start(dave.primary.token, 5000, sha256Of(Buffer.alloc(5000)));
      await eventually(() => call<GetMediaResponse>('GetMedia', { mediaId }, bob.primary.token));
      await installation.accounts.call('DeleteAccount', { accountId: dave.accountId }, dave.primary.token);
      await eventually(
        async () => {
          const failure = await grpcFailure(
            downloadMedia(installation.streaming, bob.primary.token, { mediaId, offset: 0, length: 0 }),
          );
          expect(failure.code).toBe(status.NOT_FOUND);
        },
        { retryOn: [] },
      );
      const gone = await grpcFailure(call('GetMedia', { mediaId: unfinished }, bob.primary.token));
      expect(gone.code).toBe(status.NOT_FOUND);
    });
  });

  describe('history on a new device', () => {
    /** The phone's side: seals the messages with a fresh key and uploads them in two parts. */
    async function uploadBundle(
      phone: TestAccount['primary'],
      history: unknown,
    ): Promise<{ key: Buffer; mediaIds: string[] }> {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([
        iv,
        cipher.update(JSON.stringify(history)),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      const halves = [sealed.subarray(0, sealed.length >> 1), sealed.subarray(sealed.length >> 1)];
      const mediaIds: string[] = [];
      for (const part of halves) {
        const { mediaId } = await start(phone.token, part.length, sha256Of(part));
        expect(await sendUpload(installation.streaming, phone.token, mediaId, 0, part)).toMatchObject({
          completed: true,
        });
        mediaIds.push(mediaId);
      }
      return { key, mediaIds };
    }

    const open = (sealed: Buffer, key: Buffer): unknown => {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(-16));
      return JSON.parse(
        Buffer.concat([decipher.update(sealed.subarray(12, -16)), decipher.final()]).toString(),
      );
    };

    let erin: TestAccount;
    beforeAll(async () => {
      erin = await createTestAccount(installation.accounts, installation.linking);
    });

    it('a companion linked after 50 messages gets the bundle the phone uploaded, with progress, and reads it', async () => {
      const phoneInbox = await openInboxStream(installation.inboxes, erin.primary.token);
      for (let index = 0; index < 50; index++) {
        const request = await testMessage(
          installation.linking,
          bob.primary,
          erin.accountId,
          `history-${index}`,
        );
        await eventually(() => installation.fanout.call('Send', request, bob.primary.token), {
          retryOn: [status.UNAVAILABLE],
        });
      }
      const received = await phoneInbox.until((items) => {
        const messages = messagesOf(items);
        return messages.length >= 50 ? messages : undefined;
      }, 60_000);
      phoneInbox.cancel();
      const history = received.map((entry) => ({
        id: entry.serverMessageId,
        from: oneofValue(entry.content, 'message')!.senderAccountId,
        content: Buffer.from(oneofValue(entry.content, 'message')!.content).toString('base64'),
      }));

      const laptop = await linkCompanion(installation.linking, erin.primary, 'New laptop');
      const laptopInbox = await openInboxStream(installation.inboxes, laptop.token);
      const { key, mediaIds } = await uploadBundle(erin.primary, history);
      const announced = await call<AnnounceHistoryBundleResponse>(
        'AnnounceHistoryBundle',
        { deviceId: laptop.deviceId, mediaIds },
        erin.primary.token,
      );
      const bundleId = announced.bundle!.bundleId;
      expect(announced.bundle).toMatchObject({ partsReceived: 0, partsTotal: 2 });

      const entry = await laptopInbox.until(
        (items) =>
          entriesOf(items).find(
            (candidate) =>
              oneofValue(candidate.content, 'system')?.kind ===
              SystemEntryKind.SYSTEM_ENTRY_KIND_HISTORY_BUNDLE_ANNOUNCED,
          ),
        30_000,
      );
      laptopInbox.cancel();
      const event = MediaEvent.decode(oneofValue(entry.content, 'system')!.payload).event;
      expect(event?.$case).toBe('historyBundleAnnounced');
      const bundle = (event as { value: HistoryBundleAnnounced }).value;
      expect(bundle.bundleId).toBe(bundleId);
      expect(bundle.parts.map((part) => part.mediaId)).toEqual(mediaIds);

      const parts: Buffer[] = [];
      for (const [index, part] of bundle.parts.entries()) {
        const { bytes } = await downloadMedia(installation.streaming, laptop.token, {
          mediaId: part.mediaId,
          offset: 0,
          length: 0,
        });
        expect(sha256Of(bytes).equals(Buffer.from(part.sha256))).toBe(true);
        parts.push(bytes);
        const progress = await call<ReceiveHistoryBundlePartResponse>(
          'ReceiveHistoryBundlePart',
          { bundleId, mediaId: part.mediaId },
          laptop.token,
        );
        expect(progress.bundle).toMatchObject({ partsReceived: index + 1, partsTotal: 2 });
      }
      expect(open(Buffer.concat(parts), key)).toEqual(history);
      expect(history).toHaveLength(50);
      const done = await call<GetHistoryBundleResponse>('GetHistoryBundle', { bundleId }, erin.primary.token);
      expect(done.bundle!.state).toBe(HistoryBundleState.HISTORY_BUNDLE_STATE_RECEIVED);
      await eventually(
        async () => {
          const gone = await grpcFailure(call('GetMedia', { mediaId: mediaIds[0] }, laptop.token));
          expect(gone.code).toBe(status.NOT_FOUND);
        },
        { retryOn: [] },
      );
    });

    it('stops a transfer when the companion is unlinked: the bundle ends and its parts are gone', async () => {
      const tablet = await linkCompanion(installation.linking, erin.primary, 'Tablet');
      const { mediaIds } = await uploadBundle(erin.primary, [{ id: 'only', content: 'x' }]);
      const { bundle } = await call<AnnounceHistoryBundleResponse>(
        'AnnounceHistoryBundle',
        { deviceId: tablet.deviceId, mediaIds },
        erin.primary.token,
      );
      const bundleId = bundle!.bundleId;
      await downloadMedia(installation.streaming, tablet.token, {
        mediaId: mediaIds[0],
        offset: 0,
        length: 0,
      });
      const halfway = await call<ReceiveHistoryBundlePartResponse>(
        'ReceiveHistoryBundlePart',
        { bundleId, mediaId: mediaIds[0] },
        tablet.token,
      );
      expect(halfway.bundle).toMatchObject({ partsReceived: 1, partsTotal: 2 });

      const list = await installation.linking.call<ListDevicesResponse>(
        'ListDevices',
        { accountId: erin.accountId },
        erin.primary.token,
      );
      const remaining = list.devices.filter((device) => device.deviceId !== tablet.deviceId);
      await installation.linking.call(
        'UnlinkDevice',
        {
          accountId: erin.accountId,
          deviceId: tablet.deviceId,
          listVersion: list.listVersion + 1,
          listSignature: signDeviceList(erin.primary.keys, erin.accountId, list.listVersion + 1, remaining),
        },
        erin.primary.token,
      );
      await eventually(
        async () => {
          const { bundle: ended } = await call<GetHistoryBundleResponse>(
            'GetHistoryBundle',
            { bundleId },
            erin.primary.token,
          );
          expect(ended!.state).toBe(HistoryBundleState.HISTORY_BUNDLE_STATE_DEVICE_UNLINKED);
          expect(ended!.partsReceived).toBe(1);
        },
        { retryOn: [] },
      );
      await eventually(
        async () => {
          const gone = await grpcFailure(call('GetMedia', { mediaId: mediaIds[1] }, erin.primary.token));
          expect(gone.code).toBe(status.NOT_FOUND);
        },
        { retryOn: [] },
      );
    });

    it('lets only the primary announce, and only to a linked companion', async () => {
      const bytes = randomBytes(100);
      const { mediaId } = await start(alice.primary.token, bytes.length, sha256Of(bytes));
      await sendUpload(installation.streaming, alice.primary.token, mediaId, 0, bytes);
      const fromCompanion = await grpcFailure(
        call('AnnounceHistoryBundle', { deviceId: 2, mediaIds: [mediaId] }, alice.devices[1]!.token),
      );
      expect(fromCompanion.code).toBe(status.PERMISSION_DENIED);
      const toNobody = await grpcFailure(
        call('AnnounceHistoryBundle', { deviceId: 42, mediaIds: [mediaId] }, alice.primary.token),
      );
      expect(toNobody.code).toBe(status.FAILED_PRECONDITION);
      const notOurs = await grpcFailure(
        call('AnnounceHistoryBundle', { deviceId: 2, mediaIds: [mediaId] }, erin.primary.token),
      );
      expect(notOurs.code).toBe(status.FAILED_PRECONDITION);
    });
  });
});

/**
 * Expiry, embedded, with a two-second upload time limit and a three-second retention swept every
 * second: an upload not completed in time and a blob past its retention are removed, bytes and
 * all, and say so with NOT_FOUND.
 */
describe('media expiry, embedded', () => {
  let installation: Installation;
  let dataDir: string;
  let alice: TestAccount;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-media-expiry-'));
    installation = await embedded({
      TANDEM_DATA_DIR: dataDir,
      TANDEM_MEDIA_UPLOAD_TTL_SECONDS: '2',
      TANDEM_MEDIA_RETENTION_SECONDS: '3',
      TANDEM_MEDIA_SWEEP_INTERVAL_SECONDS: '1',
      TANDEM_MEDIA_HISTORY_TTL_SECONDS: '2',
    });
    alice = await createTestAccount(installation.accounts, installation.linking, 1);
  });

  afterAll(async () => {
    await installation?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('removes an upload not completed in time, and a blob after its retention, with their bytes', async () => {
    const token = alice.primary.token;
    const call = <T>(method: string, request: object) =>
      eventually(() => installation.media.call<T>(method, request, token), { retryOn: [status.UNAVAILABLE] });
    const bytes = randomBytes(3000);
    const pending = await call<StartUploadResponse>('StartUpload', {
      sizeBytes: bytes.length,
      sha256: sha256Of(bytes),
    });
    await sendUpload(installation.streaming, token, pending.mediaId, 0, bytes.subarray(0, 1000));
    const done = await call<StartUploadResponse>('StartUpload', {
      sizeBytes: bytes.length,
      sha256: sha256Of(bytes),
    });
    expect(await sendUpload(installation.streaming, token, done.mediaId, 0, bytes)).toMatchObject({
      completed: true,
    });
    expect(existsSync(join(dataDir, 'media', 'uploads', pending.mediaId))).toBe(true);
    expect(existsSync(contentPath(dataDir, bytes))).toBe(true);

    await eventually(
      async () => {
        const failure = await grpcFailure(call('GetUploadStatus', { mediaId: pending.mediaId }));
        expect(failure.code).toBe(status.NOT_FOUND);
      },
      { retryOn: [], timeoutMs: 20_000 },
    );
    await eventually(
      async () => {
        const failure = await grpcFailure(
          downloadMedia(installation.streaming, token, { mediaId: done.mediaId, offset: 0, length: 0 }),
        );
        expect(failure.code).toBe(status.NOT_FOUND);
      },
      { retryOn: [], timeoutMs: 20_000 },
    );
    await eventually(
      async () => {
        expect(existsSync(join(dataDir, 'media', 'uploads', pending.mediaId))).toBe(false);
        expect(existsSync(contentPath(dataDir, bytes))).toBe(false);
      },
      { retryOn: [], timeoutMs: 20_000 },
    );
  });

  it('ends a history bundle not received in time as expired, and removes its parts', async () => {
    const token = alice.primary.token;
    const call = <T>(method: string, request: object, as = token) =>
      eventually(() => installation.media.call<T>(method, request, as), { retryOn: [status.UNAVAILABLE] });
    const part = randomBytes(500);
    const { mediaId } = await call<StartUploadResponse>('StartUpload', {
      sizeBytes: part.length,
      sha256: sha256Of(part),
    });
    expect(await sendUpload(installation.streaming, token, mediaId, 0, part)).toMatchObject({
      completed: true,
    });
    const { bundle } = await call<AnnounceHistoryBundleResponse>('AnnounceHistoryBundle', {
      deviceId: alice.devices[1]!.deviceId,
      mediaIds: [mediaId],
    });
    await eventually(
      async () => {
        const { bundle: now } = await call<GetHistoryBundleResponse>(
          'GetHistoryBundle',
          { bundleId: bundle!.bundleId },
          alice.devices[1]!.token,
        );
        expect(now!.state).toBe(HistoryBundleState.HISTORY_BUNDLE_STATE_EXPIRED);
      },
      { retryOn: [], timeoutMs: 20_000 },
    );
    await eventually(
      async () => {
        const gone = await grpcFailure(call('GetMedia', { mediaId }));
        expect(gone.code).toBe(status.NOT_FOUND);
        expect(existsSync(contentPath(dataDir, part))).toBe(false);
      },
      { retryOn: [], timeoutMs: 20_000 },
    );
  });
});

/** Short retention for the media and one backup kept per provider, so a newer backup prunes. */
const shortRetention = {
  TANDEM_MEDIA_UPLOAD_TTL_SECONDS: '2',
  TANDEM_MEDIA_RETENTION_SECONDS: '3',
  TANDEM_MEDIA_SWEEP_INTERVAL_SECONDS: '1',
  TANDEM_BACKUP_RETENTION: '1',
};

/**
 * Blobs kept by backups: with a retention of 3 seconds, a blob a backup references outlives its
 * retention while an unreferenced one expires; once a newer backup prunes the referencing one, the
 * blob expires too.
 */
describe.each(modes)('media kept by backups, $mode', ({ open }) => {
  let installation: Installation;
  let alice: TestAccount;

  beforeAll(async () => {
    installation = await open(shortRetention);
    alice = await createTestAccount(installation.accounts, installation.linking, 1);
  });

  afterAll(async () => {
    await installation?.stop();
  });

  const call = <T>(method: string, request: object) =>
    eventually(() => installation.media.call<T>(method, request, alice.primary.token), {
      retryOn: [status.UNAVAILABLE],
    });

  const upload = async (bytes: Buffer) => {
    const { mediaId } = await call<StartUploadResponse>('StartUpload', {
      sizeBytes: bytes.length,
      sha256: sha256Of(bytes),
    });
    return mediaId;
  };

  const send = async (mediaId: string, bytes: Buffer) =>
    expect(await sendUpload(installation.streaming, alice.primary.token, mediaId, 0, bytes)).toMatchObject({
      completed: true,
    });

  const gone = (mediaId: string) =>
    eventually(
      async () => {
        const failure = await grpcFailure(call('GetMedia', { mediaId }));
        expect(failure.code).toBe(status.NOT_FOUND);
      },
      { retryOn: [], timeoutMs: 20_000 },
    );

  const download = async (mediaId: string) =>
    (await downloadMedia(installation.streaming, alice.primary.token, { mediaId, offset: 0, length: 0 }))
      .bytes;

  /** Records a Google Drive backup of alice's; with a retention of 1 it prunes the one before. */
  const record = (backupId: string, createdAt: Date, mediaIds: string[]) => {
    const request: RecordBackupRequest = {
      accountId: alice.accountId,
      backupId,
      provider: BackupProvider.BACKUP_PROVIDER_GOOGLE_DRIVE,
      providerName: '',
      sizeBytes: 4096,
      sha256: sha256Of(Buffer.from(backupId)),
      endToEndEncrypted: false,
      keyReference: '',
      messageCount: 10,
      mediaCount: mediaIds.length,
      createdAt,
      mediaIds,
    };
    return eventually(
      () => installation.backups.call<RecordBackupResponse>('RecordBackup', request, alice.primary.token),
      { retryOn: [status.UNAVAILABLE] },
    );
  };

  it('keeps a referenced blob past its retention until the backup is pruned, and expires the others', async () => {
    const kept = randomBytes(2000);
    const loose = randomBytes(2000);
    const keptId = await upload(kept);
    // The backup names the media before its bytes are even sent: retention starts at completion.
    expect(await record('backup-1', new Date(Date.now() - 60_000), [keptId])).toMatchObject({
      recorded: true,
    });
    await send(keptId, kept);
    const looseId = await upload(loose);
    await send(looseId, loose);

    await gone(looseId);
    // Past its retention and several sweeps later, the referenced blob is still there, bytes and all.
    await new Promise((done) => setTimeout(done, 3000));
    const media = await call<GetMediaResponse>('GetMedia', { mediaId: keptId });
    expect(Math.floor(media.media!.expiresAt!.getTime() / 1000) * 1000).toBeLessThan(Date.now());
    expect((await download(keptId)).equals(kept)).toBe(true);

    const newer = await record('backup-2', new Date(), []);
    expect(newer.prunedBackupIds).toEqual(['backup-1']);
    await gone(keptId);
  });

  it('stores the same ciphertext uploaded twice once, and keeps it while one of its media ids remains', async () => {
    const photo = randomBytes(5000);
    const content = `sha256/${sha256Of(photo).toString('hex')}`;
    const sent = await upload(photo);
    const forwarded = await upload(photo);
    expect(forwarded).not.toBe(sent);
    expect(await record('backup-3', new Date(), [forwarded])).toMatchObject({ recorded: true });
    await send(sent, photo);
    await send(forwarded, photo);
    const stored = await installation.storedBlobs();
    expect(stored.filter((name) => name === content)).toHaveLength(1);
    expect(stored.filter((name) => name.includes(sent) || name.includes(forwarded))).toEqual([]);

    await gone(sent);
    await new Promise((done) => setTimeout(done, 2000));
    expect((await download(forwarded)).equals(photo)).toBe(true);
    expect(await installation.storedBlobs()).toContain(content);

    await record('backup-4', new Date(), []);
    await gone(forwarded);
    await eventually(async () => expect(await installation.storedBlobs()).not.toContain(content), {
      retryOn: [],
      timeoutMs: 20_000,
    });
  });
});
