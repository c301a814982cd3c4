import type { Metadata, ServiceDefinition } from '@grpc/grpc-js';
import { GrpcMethod, GrpcStreamMethod } from '@nestjs/microservices';
import type { Observable } from 'rxjs';

/** The request type of a method of a generated service definition. */
export type GrpcRequestOf<Method> = Method extends { requestDeserialize(bytes: Buffer): infer Request }
  ? Request
  : never;

/** The response type of a method of a generated service definition. */
export type GrpcResponseOf<Method> = Method extends { responseDeserialize(bytes: Buffer): infer Response }
  ? Response
  : never;

/** How NestJS calls a controller's handler of a method, by whether requests and responses stream. */
type GrpcHandler<Method> = (
  request: Method extends { requestStream: true } ? Observable<GrpcRequestOf<Method>> : GrpcRequestOf<Method>,
  metadata?: Metadata,
) => Method extends { responseStream: true }
  ? Observable<GrpcResponseOf<Method>>
  : | Promise<GrpcResponseOf<Method>>
    | Observable<GrpcResponseOf<Method>>
    | (Method extends { requestStream: true } ? never : GrpcResponseOf<Method>);

/**
 * What a NestJS controller of a generated service definition implements, e.g.
 * `GrpcController<typeof AccountsServiceService>`: one handler per method, named as the definition
 * names it (`register`), taking and returning the generated types.
 */
export type GrpcController<Definition> = { [Name in keyof Definition]: GrpcHandler<Definition[Name]> };

/**
 * Marks every method of a controller that the generated service definition names as its handler of
 * that RPC: `@GrpcMethod`, or `@GrpcStreamMethod` where the client streams its requests.
 */
export function GrpcServiceMethods(definition: ServiceDefinition): ClassDecorator {
  return (constructor) => {
    const prototype = constructor.prototype as object;
    for (const [name, method] of Object.entries(definition)) {
      const service = method.path.split('/')[1]!.split('.').at(-1)!;
      const descriptor = Reflect.getOwnPropertyDescriptor(prototype, name);
      if (!descriptor) throw new Error(`${constructor.name} has no handler ${name} of ${service}`);
      (method.requestStream ? GrpcStreamMethod : GrpcMethod)(service, name)(prototype, name, descriptor);
      Object.defineProperty(prototype, name, descriptor);
    }
  };
}
