import type { Timestamp } from '@tandem/contracts/google/protobuf/timestamp';

/** A Date as the `google.protobuf.Timestamp` object proto-loader encodes. */
export const toTimestamp = (date: Date): Timestamp => ({
  seconds: Math.floor(date.getTime() / 1000),
  nanos: (date.getTime() % 1000) * 1_000_000,
});
