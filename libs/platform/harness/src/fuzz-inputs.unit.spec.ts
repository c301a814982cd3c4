import { resolve } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_LOADER_OPTIONS, rootOfDescriptors, wireFormatProblem } from '@tandem/grpc';
import type { Type } from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { FuzzInputs, Random, seedRequest } from './fuzz-inputs';
import { PROTO_DIR, services } from './grpc-client';

/** The request type of every RPC of Tandem's services, as the server decodes them. */
function requestTypes(): Type[] {
  const definition = loadSync(
    Object.values(services).map((service) => resolve(PROTO_DIR, service.protoFile)),
    { ...GRPC_LOADER_OPTIONS, includeDirs: [PROTO_DIR] },
  );
  const files = Object.values(definition).find((entry) => 'fileDescriptorProtos' in entry)!
    .fileDescriptorProtos as Buffer[];
  const root = rootOfDescriptors(files);
  return Object.values(services).flatMap((service) =>
    Object.values(root.lookupService(service.name).methods).map((method) => method.resolvedRequestType!),
  );
}

describe('fuzz inputs', () => {
  it('are refused by the wire format check whenever they must be, and seeds are valid', () => {
    const random = new Random(7);
    for (const type of requestTypes()) {
      const seed = seedRequest(type, { accountId: 'account', deviceId: 1 });
      expect(wireFormatProblem(type, seed), type.name).toBeUndefined();
      const inputs = new FuzzInputs(type, seed, random);
      for (let index = 0; index < 500; index++) {
        const input = inputs.next();
        const problem = wireFormatProblem(type, input.bytes);
        if (input.mustRefuse) expect(problem, `${type.name} ${input.kind}`).toBeDefined();
        if (input.kind === 'seed') expect(problem).toBeUndefined();
      }
    }
  });

  it('are the same for the same seed', () => {
    const [type] = requestTypes();
    const seed = seedRequest(type!, { accountId: 'account', deviceId: 1 });
    const make = () => {
      const inputs = new FuzzInputs(type!, seed, new Random(3));
      return Array.from({ length: 50 }, () => Buffer.from(inputs.next().bytes).toString('hex'));
    };
    expect(make()).toEqual(make());
  });
});
