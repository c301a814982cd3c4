import { Client, type ClientReadableStream, credentials, Metadata, status } from '@grpc/grpc-js';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { newDevice, newPhoneNumber, signIn } from './devices';
import { type FuzzInput, FuzzInputs, Random, seedRequest } from './fuzz-inputs';
import { GrpcTestClient, services } from './grpc-client';
import { type DiscoveredRpc, discoverRpcs } from './rpc-discovery';

/** An input a server answered wrongly: INTERNAL or UNKNOWN, or anything but INVALID_ARGUMENT for bytes it must refuse. */
export interface FuzzFailure {
  readonly path: string;
  readonly kind: FuzzInput['kind'];
  readonly hex: string;
  readonly status: string;
  readonly details: string;
}

/** What one RPC answered to its inputs: how often each status came, and the wrong answers. */
export interface RpcFuzzReport {
  readonly path: string;
  readonly counts: ReadonlyMap<string, number>;
  readonly failures: readonly FuzzFailure[];
}

export interface FuzzOptions {
  /** Inputs per RPC. */
  readonly inputsPerRpc: number;
  /** Seed of the inputs; the same seed makes the same inputs. */
  readonly seed: number;
  /** Calls in flight at once (16 by default). */
  readonly concurrency?: number;
  /** Called as each RPC is done, e.g. to print its counts. */
  readonly onReport?: (report: RpcFuzzReport) => void;
}

/**
 * How long a server stream may stay open without a status before it counts as accepted (as OK)
 * and is cancelled: a request the server refuses is answered at once.
 */
const OPEN_STREAM_MS = 500;
const CALL_DEADLINE_MS = 10_000;

const identity = (bytes: Buffer) => bytes;

interface Answer {
  readonly code: status;
  readonly details: string;
}

/** Sends `bytes` as the (first) request message of the RPC, as they are, and resolves with its status. */
function call(client: Client, rpc: DiscoveredRpc, bytes: Uint8Array, metadata: Metadata): Promise<Answer> {
  const payload = Buffer.from(bytes);
  const options = { deadline: Date.now() + CALL_DEADLINE_MS };
  return new Promise((done) => {
    if (!rpc.requestStream && !rpc.responseStream) {
      client.makeUnaryRequest(rpc.path, identity, identity, payload, metadata, options, (error) =>
        done(error ? { code: error.code, details: error.details } : { code: status.OK, details: '' }),
      );
      return;
    }
    let settled = false;
    const settle = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.cancel();
      done(answer);
    };
    let stream: ClientReadableStream<Buffer>;
    if (rpc.requestStream) {
      const duplex = client.makeBidiStreamRequest(rpc.path, identity, identity, metadata, options);
      duplex.write(payload);
      duplex.end();
      stream = duplex;
    } else {
      stream = client.makeServerStreamRequest(rpc.path, identity, identity, payload, metadata, options);
    }
    const timer = setTimeout(() => settle({ code: status.OK, details: 'stream open' }), OPEN_STREAM_MS);
    stream.on('data', () => settle({ code: status.OK, details: 'stream answered' }));
    stream.on('status', (answer: Answer) => settle(answer));
    stream.on('error', () => undefined);
  });
}

/** Registers a fresh account at `address` and signs its primary in; resolves with its id and token. */
export async function registerAndSignIn(address: string): Promise<{ accountId: string; token: string }> {
  const accounts = new GrpcTestClient(address, services.accounts);
  const linking = new GrpcTestClient(address, services.linking);
  try {
    const device = newDevice();
    const { accountId } = await accounts.call<RegisterResponse>('Register', {
      phoneNumber: newPhoneNumber(),
      identityKey: device.identityKey,
      registrationId: device.registrationId,
      deviceName: 'fuzz',
    });
    return { accountId, token: await signIn(linking, device, accountId, 1) };
  } finally {
    accounts.close();
    linking.close();
  }
}

async function fuzzRpc(
  client: Client,
  rpc: DiscoveredRpc,
  inputs: FuzzInputs,
  count: number,
  metadata: Metadata,
  concurrency: number,
): Promise<RpcFuzzReport> {
  const counts = new Map<string, number>();
  const failures: FuzzFailure[] = [];
  let sent = 0;
  const worker = async () => {
    while (sent < count) {
      sent++;
      const input = inputs.next();
      const answer = await call(client, rpc, input.bytes, metadata);
      const name = status[answer.code] ?? String(answer.code);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      const wrong =
        answer.code === status.INTERNAL ||
        answer.code === status.UNKNOWN ||
        (input.mustRefuse && answer.code !== status.INVALID_ARGUMENT);
      if (wrong) {
        failures.push({
          path: rpc.path,
          kind: input.kind,
          hex: Buffer.from(input.bytes).toString('hex'),
          status: name,
          details: answer.details,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { path: rpc.path, counts: new Map([...counts].sort(([a], [b]) => a.localeCompare(b))), failures };
}

/**
 * Sends every RPC of every service of the Tandem at `address` (found through reflection) random
 * and mutated requests, as raw bytes on real gRPC calls, each RPC with the token of its own fresh
 * account, and reports what each RPC answered.
 */
export async function fuzzRequests(address: string, options: FuzzOptions): Promise<RpcFuzzReport[]> {
  const rpcs = await discoverRpcs(address);
  const client = new Client(address, credentials.createInsecure());
  const random = new Random(options.seed);
  const reports: RpcFuzzReport[] = [];
  try {
    for (const rpc of rpcs) {
      const { accountId, token } = await registerAndSignIn(address);
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      const inputs = new FuzzInputs(
        rpc.requestType,
        seedRequest(rpc.requestType, { accountId, deviceId: 1 }),
        random,
      );
      const report = await fuzzRpc(
        client,
        rpc,
        inputs,
        options.inputsPerRpc,
        metadata,
        options.concurrency ?? 16,
      );
      options.onReport?.(report);
      reports.push(report);
    }
  } finally {
    client.close();
  }
  return reports;
}

/** One line per RPC: its path and how often each status came. */
export function formatReport(report: RpcFuzzReport): string {
  const counts = [...report.counts].map(([name, count]) => `${name} ${count}`).join(', ');
  return `${report.path}: ${counts}${report.failures.length > 0 ? ` (${report.failures.length} wrong)` : ''}`;
}
