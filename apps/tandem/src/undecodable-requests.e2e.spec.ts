import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  GetAccountResponse,
  RegisterResponse,
} from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import {
  formatReport,
  fuzzRequests,
  GrpcTestClient,
  newDevice,
  newPhoneNumber,
  registerAndSignIn,
  type ServiceProcess,
  serviceClientConstructor,
  services,
  startServiceProcess,
} from '@tandem/harness';

/** Inputs per RPC: a thousand here; `npm run fuzz` sends 100,000. */
const INPUTS_PER_RPC = Number(process.env['TANDEM_FUZZ_INPUTS'] || 1000);
const SEED = Number(process.env['TANDEM_FUZZ_SEED'] || 11);

const identity = (bytes: Buffer) => bytes;

describe('requests that are not a valid protobuf message, to npm start (every service in one process)', () => {
  let tandem: ServiceProcess;
  let dataDir: string;
  let raw: Client;

  /** Sends `bytes` as they are as the request of a unary RPC; resolves with the status. */
  const unary = (path: string, bytes: Uint8Array) =>
    new Promise<{ code: status; details: string }>((done) =>
      raw.makeUnaryRequest(path, identity, identity, Buffer.from(bytes), new Metadata(), (error) =>
        done(error ? { code: error.code, details: error.details } : { code: status.OK, details: '' }),
      ),
    );

  /** Sends `bytes` as the request of a server-streaming RPC; resolves with how the stream ended. */
  const serverStream = (path: string, bytes: Uint8Array) =>
    new Promise<{ code: status; details: string; messages: number }>((done) => {
      let messages = 0;
      const stream = raw.makeServerStreamRequest(
        path,
        identity,
        identity,
        Buffer.from(bytes),
        new Metadata(),
      );
      stream.on('data', () => messages++);
      stream.on('error', () => undefined);
      stream.on('status', ({ code, details }: { code: status; details: string }) =>
        done({ code, details, messages }),
      );
    });

  const registerRequest = (phoneNumber: string) => {
    const device = newDevice();
    return serviceClientConstructor(services.accounts).service['Register']!.requestSerialize({
      phoneNumber,
      identityKey: device.identityKey,
      registrationId: device.registrationId,
    });
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
    tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
    raw = new Client(tandem.address, credentials.createInsecure());
  });

  afterAll(async () => {
    raw?.close();
    await tandem?.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers the single byte 0xff to Register with INVALID_ARGUMENT, saying why', async () => {
    const answer = await unary('/tandem.accounts.v1.AccountsService/Register', Uint8Array.of(0xff));
    expect(answer.code).toBe(status.INVALID_ARGUMENT);
    expect(answer.details).toBe(
      'not a valid tandem.accounts.v1.RegisterRequest: the field tag at byte 0 is cut short',
    );
  });

  it('refuses a Register whose last field runs past the end, and registers nothing', async () => {
    const phoneNumber = newPhoneNumber();
    const cutShort = Buffer.concat([
      registerRequest(phoneNumber),
      Buffer.from([0x22, 50]),
      Buffer.from('Pix'),
    ]);
    const answer = await unary('/tandem.accounts.v1.AccountsService/Register', cutShort);
    expect(answer).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'not a valid tandem.accounts.v1.RegisterRequest: field 4 (device_name) is 50 bytes long, but only 3 remain',
    });

    const accounts = new GrpcTestClient(tandem.address, services.accounts);
    const device = newDevice();
    const registered = await accounts.call<RegisterResponse>('Register', {
      phoneNumber,
      identityKey: device.identityKey,
      registrationId: device.registrationId,
    });
    expect(registered.deviceId).toBe(1);
    accounts.close();
  });

  it('refuses the request of every server stream the same way, before it opens', async () => {
    for (const path of [
      '/tandem.fanout.v1.FanoutService/StreamInbox',
      '/tandem.linking.v1.LinkingService/WatchLink',
      '/tandem.presence.v1.PresenceService/Subscribe',
      '/grpc.health.v1.Health/Watch',
    ]) {
      const answer = await serverStream(path, Uint8Array.of(0x0a, 0x05, 0x41));
      expect({ path, ...answer, details: answer.details.replace(/^not a valid [\w.]+: /, '') }).toEqual({
        path,
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(
          /^field 1 \(\w+\) (is 5 bytes long, but only 1 remain|has wire type 2, not 0)$/,
        ),
        messages: 0,
      });
    }
  });

  it('answers random and mutated requests to every RPC of every service without INTERNAL or UNKNOWN, and serves on', async () => {
    const reports = await fuzzRequests(tandem.address, { inputsPerRpc: INPUTS_PER_RPC, seed: SEED });

    const paths = reports.map((report) => report.path);
    for (const service of Object.values(services)) {
      expect(paths.some((path) => path.startsWith(`/${service.name}/`))).toBe(true);
    }
    expect(paths).toEqual(
      expect.arrayContaining([
        '/tandem.fanout.v1.FanoutService/StreamInbox',
        '/tandem.linking.v1.LinkingService/WatchLink',
        '/tandem.presence.v1.PresenceService/Subscribe',
        '/grpc.health.v1.Health/Check',
        '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      ]),
    );
    const failures = reports.flatMap((report) => report.failures);
    expect(failures.slice(0, 10), reports.map(formatReport).join('\n')).toEqual([]);

    const health = new GrpcTestClient(tandem.address, services.health);
    await expect(health.call('Check', { service: '' })).resolves.toEqual({ status: 1 });
    health.close();
    const { accountId, token } = await registerAndSignIn(tandem.address);
    const accounts = new GrpcTestClient(tandem.address, services.accounts);
    const account = await accounts.call<GetAccountResponse>('GetAccount', { accountId }, token);
    expect(account.account?.accountId).toBe(accountId);
    accounts.close();
  });
});
