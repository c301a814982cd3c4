import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { backupEventCodec } from './backups.codecs';

/** A BackupEvent whose BackupRecorded holds only an account id and `sizeBytes`, as any producer may write it. */
function recordedWithSize(sizeBytes: bigint): Uint8Array {
  const recorded = new BinaryWriter().uint32(10).string('account-1').uint32(40).int64(sizeBytes).finish();
  return new BinaryWriter().uint32(10).bytes(recorded).finish();
}

describe('a BackupRecorded event with a 64-bit size', () => {
  it('decodes exactly up to 2^53 - 1', () => {
    const event = backupEventCodec.decode(recordedWithSize(BigInt(Number.MAX_SAFE_INTEGER)));
    expect(event).toMatchObject({ $case: 'backupRecorded', value: { sizeBytes: Number.MAX_SAFE_INTEGER } });
  });

  it('is refused beyond, never rounded', () => {
    expect(() => backupEventCodec.decode(recordedWithSize(2n ** 63n - 1n))).toThrow(
      'Value is larger than Number.MAX_SAFE_INTEGER',
    );
    expect(() => backupEventCodec.decode(recordedWithSize(-(2n ** 53n)))).toThrow(
      'Value is smaller than Number.MIN_SAFE_INTEGER',
    );
  });
});
