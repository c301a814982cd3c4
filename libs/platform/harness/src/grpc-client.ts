import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ServiceClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import * as health from '@tandem/contracts/health/v1/health';
import * as accountsService from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import * as backupsService from '@tandem/contracts/tandem/backups/v1/backups_service';
import * as fanoutService from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import * as linkingService from '@tandem/contracts/tandem/linking/v1/linking_service';
import * as mediaService from '@tandem/contracts/tandem/media/v1/media_service';
import * as presenceService from '@tandem/contracts/tandem/presence/v1/presence_service';
import { fileDescriptorSet, rootOfDescriptorSet } from '@tandem/grpc';
import type { Root } from 'protobufjs';

/** The gRPC services of Tandem, as clients address them: name and generated module. */
export const services = {
  accounts: { name: 'tandem.accounts.v1.AccountsService', contracts: accountsService },
  linking: { name: 'tandem.linking.v1.LinkingService', contracts: linkingService },
  fanout: { name: 'tandem.fanout.v1.FanoutService', contracts: fanoutService },
  presence: { name: 'tandem.presence.v1.PresenceService', contracts: presenceService },
  backups: { name: 'tandem.backups.v1.BackupsService', contracts: backupsService },
  media: { name: 'tandem.media.v1.MediaService', contracts: mediaService },
  /** `grpc.health.v1.Health`, which every server carries. */
  health: { name: 'grpc.health.v1.Health', contracts: health },
} as const;

/** A Tandem gRPC service as `services` names it. */
export interface ServiceAddress {
  readonly name: string;
  /** The module generated from the service's .proto: its service definition and messages. */
  readonly contracts: object;
}

interface MessageFns {
  fromPartial(object: object): unknown;
}

const clientConstructors = new Map<string, ServiceClientConstructor>();
let descriptors: Root | undefined;

/**
 * The client class of a service, from its generated definition: its methods are named as in the
 * .proto (`BeginLink`), and a request may leave fields out, as a test writes it (they are encoded
 * with their defaults).
 */
export function serviceClientConstructor(service: ServiceAddress): ServiceClientConstructor {
  let constructor = clientConstructors.get(service.name);
  if (!constructor) {
    const exports = service.contracts as Record<string, unknown>;
    const shortName = service.name.slice(service.name.lastIndexOf('.') + 1);
    const generated = exports[`${shortName}Service`] as ServiceDefinition;
    const methods = (descriptors ??= rootOfDescriptorSet(fileDescriptorSet())).lookupService(
      service.name,
    ).methods;
    const definition: Record<string, ServiceDefinition[string]> = {};
    for (const method of Object.values(generated)) {
      const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
      const requestType = methods[rpc]?.resolvedRequestType?.name ?? '';
      const request = exports[requestType] as MessageFns | undefined;
      if (!request)
        throw new Error(`no ${requestType || `request of ${rpc}`} in the module of ${service.name}`);
      definition[rpc] = {
        ...method,
        requestSerialize: (value: object) => method.requestSerialize(request.fromPartial(value)),
      };
    }
    constructor = makeGenericClientConstructor(definition, service.name);
    clientConstructors.set(service.name, constructor);
  }
  return constructor;
}

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

/** A real gRPC client for one Tandem service, built from its generated definition. */
export class GrpcTestClient {
  private readonly client: Record<string, UnaryMethod> & { close(): void };

  constructor(address: string, service: ServiceAddress) {
    const Client = serviceClientConstructor(service);
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
