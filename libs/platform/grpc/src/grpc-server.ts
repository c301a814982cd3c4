import type { Server, ServiceDefinition } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { type GrpcOptions, Transport } from '@nestjs/microservices';
import { HealthImplementation } from 'grpc-health-check';
import { reflectionDefinition } from './reflection';
import { decodeRequestsStrictly, decodingStrictly, refuseUndecodableRequests } from './request-decoding';

/** One Tandem gRPC service: its proto package, generated definition and fully qualified service name. */
export interface GrpcServiceSpec {
  /** e.g. `tandem.accounts.v1` */
  readonly package: string;
  /**
   * The service definition generated from its .proto (e.g. `AccountsServiceService`): its methods'
   * paths and the generated encode and decode of their messages.
   */
  readonly definition: ServiceDefinition;
  /** e.g. `tandem.accounts.v1.AccountsService`, the name health checks use. */
  readonly serviceName: string;
}

/** The spec of a generated service definition: its package and name, read from its methods' paths. */
export function grpcServiceOf(definition: ServiceDefinition): GrpcServiceSpec {
  const path = Object.values(definition)[0]?.path ?? '';
  const serviceName = path.slice(1, path.lastIndexOf('/'));
  if (!serviceName) throw new Error('a gRPC service definition without methods');
  return { package: serviceName.slice(0, serviceName.lastIndexOf('.')), definition, serviceName };
}

export interface GrpcServerOptions {
  /** host:port to listen on. */
  readonly address: string;
  readonly services: readonly GrpcServiceSpec[];
  /** Reports NOT_SERVING until the process is ready and again while it shuts down. */
  readonly health: HealthImplementation;
}

/** A health service that starts NOT_SERVING for the whole server and each of these services. */
export function createHealth(services: readonly GrpcServiceSpec[]): HealthImplementation {
  return new HealthImplementation(
    Object.fromEntries([['', 'NOT_SERVING'], ...services.map((spec) => [spec.serviceName, 'NOT_SERVING'])]),
  );
}

export function setServing(
  health: HealthImplementation,
  services: readonly GrpcServiceSpec[],
  serving: boolean,
): void {
  const value = serving ? 'SERVING' : 'NOT_SERVING';
  health.setStatus('', value);
  for (const spec of services) health.setStatus(spec.serviceName, value);
}

/**
 * NestJS microservice options for a gRPC server that carries the given Tandem services plus
 * `grpc.health.v1.Health` and server reflection (v1 and v1alpha), so grpcurl works against it.
 * Every request of every one of them is decoded strictly: bytes that are not a valid request are
 * answered INVALID_ARGUMENT before a handler sees them (see `refuseUndecodableRequests`).
 */
export function grpcServerOptions(options: GrpcServerOptions): GrpcOptions {
  return {
    transport: Transport.GRPC,
    options: {
      url: options.address,
      package: options.services.map((spec) => spec.package),
      // NestJS hands the server these definitions instead of loading .proto files with proto-loader,
      // so requests and responses are the generated types, encoded and decoded by generated code.
      packageDefinition: Object.fromEntries(
        options.services.map((spec) => [spec.serviceName, spec.definition]),
      ) as unknown as PackageDefinition,
      gracefulShutdown: true,
      channelOptions: { interceptors: [refuseUndecodableRequests] },
      onLoadPackageDefinition: (definition: PackageDefinition, server: Server) => {
        decodeRequestsStrictly(definition);
        // Reflection and health add their services themselves, through this view of the server.
        const strictServer = {
          addService: (service, implementation) =>
            server.addService(decodingStrictly(service), implementation),
        } as Pick<Server, 'addService'> as Server;
        new ReflectionService(reflectionDefinition()).addToServer(strictServer);
        options.health.addToServer(strictServer);
      },
    },
  };
}
