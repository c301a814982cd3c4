import { fileDescriptorSet, rootOfDescriptorSet, wireFormatProblem } from '@tandem/grpc';
import type { Type } from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { FuzzInputs, Random, seedRequest } from './fuzz-inputs';
import { services } from './grpc-client';

/** The request type of every RPC of Tandem's services, as the server decodes them. */
function requestTypes(): Type[] {
  const root = rootOfDescriptorSet(fileDescriptorSet());
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
