/**
 * What a blob is and the rules for the values that name and describe it: media ids, declared
 * sizes and digests, byte ranges.
 */
import { invalidArgument } from '@tandem/decider';

export const mediaLimits = {
  /** 128 random bits as base64url without padding. */
  mediaIdLength: 22,
  sha256Bytes: 32,
  /** Largest chunk of one UploadRequest: well below gRPC's 4 MiB message limit. */
  maxChunkBytes: 1024 * 1024,
  /** Chunks of a Download response. */
  downloadChunkBytes: 1024 * 1024,
} as const;

const MEDIA_ID = /^[A-Za-z0-9_-]{22}$/;

/** A media id as a request names it; anything else is refused before it reaches a store. */
export function validateMediaId(mediaId: string, field = 'media_id'): string {
  if (!MEDIA_ID.test(mediaId)) {
    throw invalidArgument(field, `must be a media id: ${mediaLimits.mediaIdLength} characters of base64url`);
  }
  return mediaId;
}

export function validateSize(sizeBytes: number, maxBytes: number, field = 'size_bytes'): number {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1) throw invalidArgument(field, 'must be at least 1');
  if (sizeBytes > maxBytes) {
    throw invalidArgument(field, `must be at most ${maxBytes} bytes, the largest blob this service keeps`);
  }
  return sizeBytes;
}

export function validateSha256(sha256: Uint8Array, field = 'sha256'): Uint8Array {
  if (sha256.length !== mediaLimits.sha256Bytes) {
    throw invalidArgument(field, `must be the ${mediaLimits.sha256Bytes}-byte SHA-256 of the ciphertext`);
  }
  return sha256;
}

/** A byte range of a blob: from `offset`, `length` bytes (0: to the end), clipped to the end. */
export interface ByteRange {
  readonly offset: number;
  /** Bytes in the range, at least 1. */
  readonly length: number;
}

/**
 * The range a Download sends: offset below the size (an offset past the end is out of range),
 * length 0 or past the end meaning "to the end".
 */
export function byteRange(sizeBytes: number, offset: number, length: number): ByteRange | 'out-of-range' {
  if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument('offset', 'must be 0 or more');
  if (!Number.isSafeInteger(length) || length < 0) throw invalidArgument('length', 'must be 0 or more');
  if (offset >= sizeBytes) return 'out-of-range';
  const rest = sizeBytes - offset;
  return { offset, length: length === 0 ? rest : Math.min(length, rest) };
}

export const sameDigest = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((byte, index) => byte === b[index]);
