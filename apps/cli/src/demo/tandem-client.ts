import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientWritableStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { AccountsServiceClient } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import type { FanoutServiceClient } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { LinkingServiceClient } from '@tandem/contracts/tandem/linking/v1/linking_service';
import type { MediaServiceClient } from '@tandem/contracts/tandem/media/v1/media_service';
import { GRPC_LOADER_OPTIONS } from '@tandem/grpc';
import type { Observable } from 'rxjs';

/** The repository's proto/ folder, found from this file in the source tree or in dist/. */
function protoDir(): string {
  if (process.env['TANDEM_PROTO_DIR']) return resolve(process.env['TANDEM_PROTO_DIR']);
  const marker = '/apps/cli/';
  const root = __dirname.slice(0, __dirname.lastIndexOf(marker)).replace(/\/dist$/, '');
  return resolve(root, 'proto');
}

const SERVICES = {
  accounts: {
    file: 'tandem/accounts/v1/accounts_service.proto',
    path: ['tandem', 'accounts', 'v1', 'AccountsService'],
  },
  linking: {
    file: 'tandem/linking/v1/linking_service.proto',
    path: ['tandem', 'linking', 'v1', 'LinkingService'],
  },
  fanout: {
    file: 'tandem/fanout/v1/fanout_service.proto',
    path: ['tandem', 'fanout', 'v1', 'FanoutService'],
  },
  media: {
    file: 'tandem/media/v1/media_service.proto',
    path: ['tandem', 'media', 'v1', 'MediaService'],
  },
} as const;

/** Where Tandem listens when neither --server, TANDEM_SERVER nor a profile says otherwise. */
export const DEFAULT_SERVER = '127.0.0.1:50051';

/** How long a unary call may take before the CLI gives up on it. */
const CALL_DEADLINE_MS = 15_000;

type RequestOf<Rpc> = Rpc extends (request: infer Request, metadata?: Metadata) => Observable<unknown>
  ? Request
  : never;
type ResponseOf<Rpc> = Rpc extends (...args: never[]) => Observable<infer Response> ? Response : never;

/**
 * One Tandem gRPC service as a client calls it, typed by the generated service interface:
 * `call` for unary RPCs, `stream` for server-streaming ones, `duplex` for bidirectional ones. A `token` is sent as
 * `authorization: Bearer <token>`.
 */
export class ServiceClient<Rpcs> {
  constructor(private readonly client: Client) {}

  call<Method extends keyof Rpcs & string>(
    method: Method,
    request: RequestOf<Rpcs[Method]>,
    token?: string,
  ): Promise<ResponseOf<Rpcs[Method]>> {
    const rpc = this.method(method);
    return new Promise((resolvePromise, reject) => {
      rpc.call(
        this.client,
        request,
        metadataWith(token),
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (error: ServiceError | null, response: ResponseOf<Rpcs[Method]>) =>
          error ? reject(error) : resolvePromise(response),
      );
    });
  }

  stream<Method extends keyof Rpcs & string>(
    method: Method,
    request: RequestOf<Rpcs[Method]>,
    token?: string,
  ): ClientReadableStream<ResponseOf<Rpcs[Method]>> {
    return this.method(method).call(this.client, request, metadataWith(token));
  }

  /** Opens a client stream (Upload): requests are written to it, the one response comes to `callback`. */
  clientStream<Request, Response>(
    method: keyof Rpcs & string,
    token: string | undefined,
    callback: (error: ServiceError | null, response?: Response) => void,
  ): ClientWritableStream<Request> {
    return this.method(method).call(this.client, metadataWith(token), callback);
  }

  /** Opens a bidirectional stream (Connect): requests are written to it, responses read from it. */
  duplex<Request, Response>(
    method: keyof Rpcs & string,
    token?: string,
  ): ClientDuplexStream<Request, Response> {
    return this.method(method).call(this.client, metadataWith(token));
  }

  private method(name: string): (...args: unknown[]) => never {
    const rpc = (this.client as unknown as Record<string, unknown>)[name];
    if (typeof rpc !== 'function') throw new Error(`the service has no method ${name}`);
    return rpc as (...args: unknown[]) => never;
  }
}

function metadataWith(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** Tandem's services at one address, loaded from proto/ the way any gRPC client does. */
export class TandemClient {
  readonly accounts: ServiceClient<AccountsServiceClient>;
  readonly linking: ServiceClient<LinkingServiceClient>;
  readonly fanout: ServiceClient<FanoutServiceClient>;
  readonly media: ServiceClient<MediaServiceClient>;
  private readonly clients: Client[];

  constructor(readonly address: string) {
    const dir = protoDir();
    const loaded = loadPackageDefinition(
      loadSync(
        Object.values(SERVICES).map((service) => resolve(dir, service.file)),
        { ...GRPC_LOADER_OPTIONS, includeDirs: [dir] },
      ),
    );
    const connect = (path: readonly string[]): Client => {
      let found: unknown = loaded;
      for (const part of path) found = (found as Record<string, unknown>)[part];
      return new (found as ServiceClientConstructor)(address, credentials.createInsecure());
    };
    this.clients = [
      connect(SERVICES.accounts.path),
      connect(SERVICES.linking.path),
      connect(SERVICES.fanout.path),
      connect(SERVICES.media.path),
    ];
    this.accounts = new ServiceClient(this.clients[0]!);
    this.linking = new ServiceClient(this.clients[1]!);
    this.fanout = new ServiceClient(this.clients[2]!);
    this.media = new ServiceClient(this.clients[3]!);
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

export const isServiceError = (error: unknown): error is ServiceError =>
  error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number';

export const hasStatus = (error: unknown, ...codes: status[]): error is ServiceError =>
  isServiceError(error) && codes.includes(error.code);

/**
 * Runs `action` until it succeeds, while it fails with one of `retryOn` and `timeoutMs` has not
 * passed: for what follows an event the services apply asynchronously (a device just registered
 * or linked becomes known to the other services a moment later).
 */
export async function retrying<T>(
  action: () => Promise<T>,
  options: { retryOn: readonly status[]; timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const { retryOn, timeoutMs = 10_000, intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (!hasStatus(error, ...retryOn) || Date.now() + intervalMs > deadline) throw error;
      await sleep(intervalMs);
    }
  }
}

/** A failed call as a person reads it: the status name and the server's explanation. */
export function describeFailure(error: unknown): string {
  if (!isServiceError(error)) return error instanceof Error ? error.message : String(error);
  const text = `${status[error.code]}: ${error.details}`;
  if (error.code === status.UNAVAILABLE) {
    return `${text}\nIs Tandem running there? Start it with "npm start", or pass --server host:port.`;
  }
  return text;
}
