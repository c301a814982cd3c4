import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Client, credentials } from '@grpc/grpc-js';
import { rootOfDescriptors } from '@tandem/grpc';
import { type Message, Root, type Service, type Type } from 'protobufjs';
import { FileDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { REPOSITORY_ROOT } from './repository';

/** One RPC a server offers, as its reflection service describes it. */
export interface DiscoveredRpc {
  /** e.g. `/tandem.accounts.v1.AccountsService/Register` */
  readonly path: string;
  readonly requestType: Type;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

const REFLECTION_PROTO = resolve(
  dirname(createRequire(resolve(REPOSITORY_ROOT, 'package.json')).resolve('@grpc/reflection')),
  '../proto/grpc/reflection/v1/reflection.proto',
);

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Uint8Array[] };
  errorResponse?: { errorMessage: string };
}

const reflectionRoot = () => new Root().loadSync(REFLECTION_PROTO);

/**
 * Asks the server's reflection service (grpc.reflection.v1) for `requests` on one stream and
 * resolves with as many responses, in order.
 */
function reflect(client: Client, requests: readonly object[]): Promise<ReflectionResponse[]> {
  const root = reflectionRoot();
  const requestType = root.lookupType('grpc.reflection.v1.ServerReflectionRequest');
  const responseType = root.lookupType('grpc.reflection.v1.ServerReflectionResponse');
  return new Promise((done, fail) => {
    const responses: ReflectionResponse[] = [];
    const call = client.makeBidiStreamRequest<object, Message>(
      '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      (request) => Buffer.from(requestType.encode(requestType.fromObject(request)).finish()),
      (bytes) => responseType.decode(bytes),
    );
    call.on('data', (response: Message) => {
      const decoded = response as ReflectionResponse;
      if (decoded.errorResponse) {
        call.cancel();
        fail(new Error(`reflection: ${decoded.errorResponse.errorMessage}`));
        return;
      }
      responses.push(decoded);
      if (responses.length === requests.length) {
        call.end();
        done(responses);
      }
    });
    call.on('error', fail);
    for (const request of requests) call.write(request);
  });
}

function rpcsOf(service: Service): DiscoveredRpc[] {
  const serviceName = service.fullName.replace(/^\./, '');
  return Object.values(service.methods).map((method) => ({
    path: `/${serviceName}/${method.name}`,
    requestType: method.resolvedRequestType as Type,
    requestStream: Boolean(method.requestStream),
    responseStream: Boolean(method.responseStream),
  }));
}

/**
 * Every RPC of every service the server at `address` offers, found through server reflection,
 * and the reflection service's own, which it does not list.
 */
export async function discoverRpcs(address: string): Promise<DiscoveredRpc[]> {
  const client = new Client(address, credentials.createInsecure());
  try {
    const [listed] = await reflect(client, [{ listServices: '' }]);
    const serviceNames = (listed?.listServicesResponse?.service ?? []).map((service) => service.name).sort();
    const answers = await reflect(
      client,
      serviceNames.map((name) => ({ fileContainingSymbol: name })),
    );
    const files = new Map<string, Uint8Array>();
    for (const answer of answers) {
      for (const file of answer.fileDescriptorResponse?.fileDescriptorProto ?? []) {
        files.set((FileDescriptorProto.decode(file) as IFileDescriptorProto).name ?? '', file);
      }
    }
    const root = rootOfDescriptors([...files.values()]);
    const reflection = reflectionRoot();
    reflection.resolveAll();
    return [
      ...serviceNames.flatMap((name) => rpcsOf(root.lookupService(name))),
      ...rpcsOf(reflection.lookupService('grpc.reflection.v1.ServerReflection')),
    ];
  } finally {
    client.close();
  }
}
