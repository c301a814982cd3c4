/**
 * Media: how fast one device uploads an encrypted blob (Upload, 1 MiB chunks, the SHA-256 check
 * at the end included) and downloads it again (Download), over real gRPC, beside what the disk
 * itself does with the same bytes (write and sync, then read) in the same folder. Embedded (blobs
 * in the data folder) always; on S3 (a media process with S3_ENDPOINT, Kafka and MongoDB) when
 * those are configured. TANDEM_BENCH_MEDIA_MIB sets the blob's size (default 64).
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StartUploadResponse } from '@tandem/contracts/tandem/media/v1/media_service';
import {
  createTestAccount,
  downloadMedia,
  eventually,
  GrpcTestClient,
  mediaStreamingClient,
  sendUpload,
  type ServiceProcess,
  services,
  startServiceProcess,
} from '@tandem/harness';
import { envNumber, header, row, since } from './report';

const MiB = 1024 * 1024;

interface Setup {
  readonly name: string;
  readonly address: { readonly accounts: string; readonly linking: string; readonly media: string };
  readonly processes: ServiceProcess[];
  readonly dataDir: string;
}

const rate = (bytes: number, seconds: number) => `${(bytes / MiB / seconds).toFixed(1)} MiB/s`;

/** The disk's own figures for `bytes` in `folder`: write and fsync, then read back. */
async function disk(folder: string, bytes: Buffer): Promise<{ write: number; read: number }> {
  const path = join(folder, 'disk-bench.bin');
  const started = performance.now();
  const file = await open(path, 'w');
  for (let at = 0; at < bytes.length; at += MiB) await file.write(bytes.subarray(at, at + MiB));
  await file.sync();
  await file.close();
  const write = since(started);
  const reading = performance.now();
  await readFile(path);
  const read = since(reading);
  await rm(path, { force: true });
  return { write, read };
}

async function transfer(setup: Setup, blob: Buffer): Promise<void> {
  const client = (address: string, service: (typeof services)[keyof typeof services]) =>
    new GrpcTestClient(address, service);
  const accounts = client(setup.address.accounts, services.accounts);
  const linking = client(setup.address.linking, services.linking);
  const media = client(setup.address.media, services.media);
  const streaming = mediaStreamingClient(setup.address.media);
  try {
    const { primary } = await createTestAccount(accounts, linking);
    const digest = createHash('sha256').update(blob).digest();
    const { mediaId } = await eventually(
      () =>
        media.call<StartUploadResponse>(
          'StartUpload',
          { sizeBytes: blob.length, sha256: digest },
          primary.token,
        ),
      { timeoutMs: 60_000 },
    );
    const uploading = performance.now();
    const uploaded = await sendUpload(streaming, primary.token, mediaId, 0, blob);
    const upload = since(uploading);
    if (uploaded === 'cancelled' || !uploaded.completed) throw new Error('the upload did not complete');
    const downloading = performance.now();
    const { bytes } = await downloadMedia(streaming, primary.token, { mediaId, offset: 0, length: 0 });
    const download = since(downloading);
    if (!createHash('sha256').update(bytes).digest().equals(digest))
      throw new Error('downloaded other bytes');
    const own = await disk(setup.dataDir, blob);
    row(
      `media ${blob.length / MiB} MiB (${setup.name})`,
      `upload ${rate(blob.length, upload)}, download ${rate(blob.length, download)}; ` +
        `the disk: write+sync ${rate(blob.length, own.write)}, read ${rate(blob.length, own.read)}`,
    );
  } finally {
    for (const closable of [accounts, linking, media, streaming]) closable.close();
  }
}

async function embedded(): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-bench-media-'));
  const tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
  const address = tandem.address;
  return {
    name: 'embedded, data folder',
    address: { accounts: address, linking: address, media: address },
    processes: [tandem],
    dataDir,
  };
}

async function onS3(kafkaBrokers: string, mongoUri: string): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-bench-media-'));
  const prefix = `bench_media_${Date.now()}`;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const common = {
    KAFKA_BROKERS: kafkaBrokers,
    MONGODB_URI: mongoUri,
    TANDEM_MONGODB_DATABASE_PREFIX: prefix,
    TANDEM_TOPIC_PREFIX: `${prefix}.`,
    TANDEM_TOKEN_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  const s3 = {
    S3_ENDPOINT: process.env['S3_ENDPOINT'] ?? '',
    S3_REGION: process.env['S3_REGION'] ?? 'us-east-1',
    S3_ACCESS_KEY_ID: process.env['S3_ACCESS_KEY_ID'] ?? '',
    S3_SECRET_ACCESS_KEY: process.env['S3_SECRET_ACCESS_KEY'] ?? '',
    TANDEM_MEDIA_S3_BUCKET: prefix.replaceAll('_', '-'),
  };
  const [accounts, linking, media] = await Promise.all([
    startServiceProcess('accounts', common),
    startServiceProcess('linking', {
      ...common,
      TANDEM_TOKEN_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    }),
    startServiceProcess('media', { ...common, ...s3, TANDEM_DATA_DIR: dataDir }),
  ]);
  return {
    name: `S3 at ${s3.S3_ENDPOINT}`,
    address: { accounts: accounts.address, linking: linking.address, media: media.address },
    processes: [accounts, linking, media],
    dataDir,
  };
}

export async function benchMedia(
  kafkaBrokers: string | undefined,
  mongoUri: string | undefined,
): Promise<void> {
  header('media: one device uploads and downloads an encrypted blob over gRPC');
  const blob = randomBytes(envNumber('TANDEM_BENCH_MEDIA_MIB', 64) * MiB);
  const setups: (() => Promise<Setup>)[] = [embedded];
  if (kafkaBrokers && mongoUri && process.env['S3_ENDPOINT']) setups.push(() => onS3(kafkaBrokers, mongoUri));
  for (const start of setups) {
    const setup = await start();
    try {
      await transfer(setup, blob);
    } finally {
      await Promise.all(setup.processes.map((process) => process.stop()));
      rmSync(setup.dataDir, { recursive: true, force: true });
    }
  }
}
