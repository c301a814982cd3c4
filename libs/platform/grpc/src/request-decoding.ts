import {
  type MethodDefinition,
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceDefinition,
  status,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { Root, Service, type Type } from 'protobufjs';
import {
  FileDescriptorProto,
  type IFileDescriptorProto,
  type IFileDescriptorSet,
} from 'protobufjs/ext/descriptor';
import { FIELD_METADATA_KEY } from './grpc-errors';
import { fileDescriptorSet } from './descriptors';
import { requestBytesProblem } from './wire-format';

/**
 * What a request deserializer hands on in place of bytes that are not a valid request. grpc-js
 * answers a deserializer that throws with INTERNAL, so the refusal travels as this value to
 * `refuseUndecodableRequests`, which answers INVALID_ARGUMENT before any handler sees the call.
 */
export class UndecodableRequest {
  constructor(
    readonly reason: string,
    /** The field whose value is refused, when the bytes are well formed but a value out of range. */
    readonly field?: string,
  ) {}
}

/** protobufjs/ext/descriptor adds `Root.fromDescriptor` at run time; its typings leave it out. */
const rootFromDescriptor = (Root as unknown as { fromDescriptor(set: IFileDescriptorSet): Root })
  .fromDescriptor;

/** A resolved protobufjs root of encoded FileDescriptorProtos (as proto-loader and reflection carry them). */
export function rootOfDescriptors(fileDescriptorProtos: readonly Uint8Array[]): Root {
  return rootOfDescriptorSet({
    file: fileDescriptorProtos.map((bytes) => FileDescriptorProto.decode(bytes) as IFileDescriptorProto),
  });
}

/** A resolved protobufjs root of a FileDescriptorSet. */
export function rootOfDescriptorSet(set: IFileDescriptorSet): Root {
  const root = rootFromDescriptor(set);
  root.resolveAll();
  return root;
}

/** The request types of Tandem's services (and health's), from the descriptors buf built. */
let tandemRoot: Root | undefined;
const tandemTypes = () => (tandemRoot ??= rootOfDescriptorSet(fileDescriptorSet()));

/** One protobufjs root per package definition: proto-loader gives all its methods the same files. */
const roots = new WeakMap<readonly Buffer[], Root>();

/**
 * A method's request type: from the descriptors buf built, or for a service defined elsewhere
 * (server reflection's own), from the file descriptors proto-loader attached to its definition.
 */
function requestTypeOf(method: MethodDefinition<unknown, unknown>): Type | undefined {
  const [, serviceName = '', methodName = ''] = method.path.split('/');
  const known = tandemTypes().lookup(serviceName);
  if (known instanceof Service) return known.methods[methodName]?.resolvedRequestType ?? undefined;
  const files = (method as { requestType?: { fileDescriptorProtos?: Buffer[] } }).requestType
    ?.fileDescriptorProtos;
  if (!files) return undefined;
  let root = roots.get(files);
  if (!root) {
    root = rootOfDescriptors(files);
    roots.set(files, root);
  }
  return root.lookupService(serviceName).methods[methodName]?.resolvedRequestType ?? undefined;
}

function strictDeserializer(method: MethodDefinition<unknown, unknown>): (bytes: Buffer) => unknown {
  const type = requestTypeOf(method);
  const deserialize = method.requestDeserialize;
  const what = type ? type.fullName.replace(/^\./, '') : `request of ${method.path}`;
  return (bytes) => {
    const problem = type && requestBytesProblem(type, bytes);
    if (problem?.field) return new UndecodableRequest(problem.reason, problem.field);
    if (problem) return new UndecodableRequest(`not a valid ${what}: ${problem.reason}`);
    try {
      return deserialize(bytes);
    } catch (error) {
      return new UndecodableRequest(`not a valid ${what}: ${(error as Error).message}`);
    }
  };
}

/**
 * The service with request deserializers that check the bytes first (see `requestBytesProblem`)
 * and hand on an `UndecodableRequest` instead of throwing.
 */
export function decodingStrictly<Service extends ServiceDefinition>(service: Service): Service {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      { ...method, requestDeserialize: strictDeserializer(method) },
    ]),
  ) as Service;
}

/** Makes every service of a package definition (generated or proto-loader's) decode its requests strictly. */
export function decodeRequestsStrictly(definition: PackageDefinition): void {
  for (const [name, entry] of Object.entries(definition)) {
    if (!('format' in entry)) {
      definition[name] = decodingStrictly(entry as unknown as ServiceDefinition) as unknown as typeof entry;
    }
  }
}

/**
 * A server interceptor that answers a request its deserializer could not decode with
 * INVALID_ARGUMENT and the reason (and the field in the trailing metadata `tandem-field` when a
 * value is out of range), on every kind of call, and never passes it to the handler.
 */
export const refuseUndecodableRequests: ServerInterceptor = (_method, call) => {
  let refused = false;
  return new ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMessage: (message, passOn) => {
          if (refused) return;
          if (!(message instanceof UndecodableRequest)) {
            passOn(message);
            return;
          }
          refused = true;
          const metadata = new Metadata();
          if (message.field) metadata.set(FIELD_METADATA_KEY, message.field);
          call.sendStatus({ code: status.INVALID_ARGUMENT, details: message.reason, metadata });
        },
        onReceiveHalfClose: (passOn) => {
          if (!refused) passOn();
        },
      }),
  });
};
