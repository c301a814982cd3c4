import type { Options } from '@grpc/proto-loader';

/**
 * How @grpc/proto-loader turns wire messages into the objects NestJS hands to controllers. These
 * must agree with the ts-proto options in proto/buf.gen.grpc.yaml, which says why each one is so.
 * `longs: Number` rounds a 64-bit value beyond ±(2^53 - 1); no request holding one gets this far
 * (`requestBytesProblem` refuses it with INVALID_ARGUMENT), so the numbers handlers see are exact.
 */
export const GRPC_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};
