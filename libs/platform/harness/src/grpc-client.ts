import { resolve } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_LOADER_OPTIONS } from '@tandem/grpc';
import { REPOSITORY_ROOT } from './repository';

export const PROTO_DIR = resolve(REPOSITORY_ROOT, 'proto');

/** The gRPC services of Tandem, as clients address them. */
export const services = {
  accounts: {
    protoFile: 'tandem/accounts/v1/accounts_service.proto',
    name: 'tandem.accounts.v1.AccountsService',
  },
  linking: { protoFile: 'tandem/linking/v1/linking_service.proto', name: 'tandem.linking.v1.LinkingService' },
  fanout: { protoFile: 'tandem/fanout/v1/fanout_service.proto', name: 'tandem.fanout.v1.FanoutService' },
  presence: {
    protoFile: 'tandem/presence/v1/presence_service.proto',
    name: 'tandem.presence.v1.PresenceService',
  },
  backups: { protoFile: 'tandem/backups/v1/backups_service.proto', name: 'tandem.backups.v1.BackupsService' },
  media: { protoFile: 'tandem/media/v1/media_service.proto', name: 'tandem.media.v1.MediaService' },
} as const;

/** A Tandem gRPC service as `services` names it. */
export interface ServiceAddress {
  readonly protoFile: string;
  readonly name: string;
}

const clientConstructors = new Map<string, ServiceClientConstructor>();

/** The client class of a service, loaded once from its .proto the way clients load it. */
export function serviceClientConstructor(service: ServiceAddress): ServiceClientConstructor {
  let constructor = clientConstructors.get(service.name);
  if (!constructor) {
    const definition = loadSync(resolve(PROTO_DIR, service.protoFile), {
      ...GRPC_LOADER_OPTIONS,
      includeDirs: [PROTO_DIR],
    });
    let found: unknown = loadPackageDefinition(definition);
    for (const part of service.name.split('.')) found = (found as Record<string, unknown>)[part];
    constructor = found as ServiceClientConstructor;
    clientConstructors.set(service.name, constructor);
  }
  return constructor;
}

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

/** A real gRPC client for one Tandem service, loaded from its .proto the way clients do. */
export class GrpcTestClient {
  private readonly client: Record<string, UnaryMethod> & { close(): void };

  constructor(address: string, protoFile: string, serviceName: string) {
    const Client = serviceClientConstructor({ protoFile, name: serviceName });
    this.client = new Client(address, credentials.createInsecure()) as unknown as typeof this.client;
  }

  /**
   * Calls a unary RPC; `token` becomes `authorization: Bearer <token>`, `headers` (e.g. a
   * traceparent) more metadata.
   */
  call<Response>(
    method: string,
    request: object,
    token?: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<Response> {
    const metadata = new Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
    return new Promise((resolvePromise, reject) => {
      const rpc = this.client[method];
      if (!rpc) throw new Error(`no method ${method}`);
      rpc.call(this.client, request, metadata, (error, response) =>
        error ? reject(error) : resolvePromise(response as Response),
      );
    });
  }

  /** Calls a server-streaming RPC and resolves with every message once the stream ends. */
  stream<Response>(method: string, request: object, token?: string): Promise<Response[]> {
    const metadata = new Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    const rpc = this.client[method] as unknown as
      ((request: unknown, metadata: Metadata) => NodeJS.EventEmitter) | undefined;
    if (!rpc) throw new Error(`no method ${method}`);
    return new Promise((resolvePromise, reject) => {
      const messages: Response[] = [];
      const call = rpc.call(this.client, request, metadata);
      call.on('data', (message: Response) => messages.push(message));
      call.on('error', reject);
      call.on('end', () => resolvePromise(messages));
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The error a call failed with; fails the test when it did not fail. */
export async function grpcFailure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/**
 * Retries `action` until it resolves: while it fails with one of the given gRPC statuses or with
 * an error that has none (a failed expectation), up to `timeoutMs`. For what follows events.
 */
export async function eventually<T>(
  action: () => Promise<T>,
  options: { timeoutMs?: number; retryOn?: readonly status[]; intervalMs?: number } = {},
): Promise<T> {
  const { timeoutMs = 15_000, intervalMs = 25 } = options;
  const retryOn = options.retryOn ?? [status.NOT_FOUND, status.UNAVAILABLE, status.UNAUTHENTICATED];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      const code = (error as Partial<ServiceError>).code;
      const retryable = code === undefined || retryOn.includes(code);
      if (!retryable || Date.now() > deadline) throw error;
      await new Promise((done) => setTimeout(done, intervalMs));
    }
  }
}
