import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientWritableStream,
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { AccountsServiceService } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { FanoutServiceService } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { LinkingServiceService } from '@tandem/contracts/tandem/linking/v1/linking_service';
import { MediaServiceService } from '@tandem/contracts/tandem/media/v1/media_service';
import type { GrpcRequestOf, GrpcResponseOf } from '@tandem/grpc';

const SERVICES = {
  accounts: { definition: AccountsServiceService, name: 'tandem.accounts.v1.AccountsService' },
  linking: { definition: LinkingServiceService, name: 'tandem.linking.v1.LinkingService' },
  fanout: { definition: FanoutServiceService, name: 'tandem.fanout.v1.FanoutService' },
  media: { definition: MediaServiceService, name: 'tandem.media.v1.MediaService' },
} as const;

/** Where Tandem listens when neither --server, TANDEM_SERVER nor a profile says otherwise. */
export const DEFAULT_SERVER = '127.0.0.1:50051';

/** How long a unary call may take before the CLI gives up on it. */
const CALL_DEADLINE_MS = 15_000;

/**
 * One Tandem gRPC service as a client calls it, typed by the generated service definition:
 * `call` for unary RPCs, `stream` for server-streaming ones, `duplex` for bidirectional ones. A `token` is sent as
 * `authorization: Bearer <token>`.
 */
export class ServiceClient<Rpcs> {
  constructor(private readonly client: Client) {}

  call<Method extends keyof Rpcs & string>(
    method: Method,
    request: GrpcRequestOf<Rpcs[Method]>,
    token?: string,
  ): Promise<GrpcResponseOf<Rpcs[Method]>> {
    const rpc = this.method(method);
    return new Promise((resolvePromise, reject) => {
      rpc.call(
        this.client,
        request,
        metadataWith(token),
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (error: ServiceError | null, response: GrpcResponseOf<Rpcs[Method]>) =>
          error ? reject(error) : resolvePromise(response),
      );
    });
  }

  stream<Method extends keyof Rpcs & string>(
    method: Method,
    request: GrpcRequestOf<Rpcs[Method]>,
    token?: string,
  ): ClientReadableStream<GrpcResponseOf<Rpcs[Method]>> {
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

/** Tandem's services at one address, with the clients generated from proto/. */
export class TandemClient {
  readonly accounts: ServiceClient<typeof AccountsServiceService>;
  readonly linking: ServiceClient<typeof LinkingServiceService>;
  readonly fanout: ServiceClient<typeof FanoutServiceService>;
  readonly media: ServiceClient<typeof MediaServiceService>;
  private readonly clients: Client[];

  constructor(readonly address: string) {
    const connect = (service: { definition: ServiceDefinition; name: string }): Client =>
      new (makeGenericClientConstructor(service.definition, service.name))(
        address,
        credentials.createInsecure(),
      );
    this.clients = [
      connect(SERVICES.accounts),
      connect(SERVICES.linking),
      connect(SERVICES.fanout),
      connect(SERVICES.media),
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
