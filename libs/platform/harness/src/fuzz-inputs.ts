import { randomBytes } from 'node:crypto';
import { Enum, type Field, MapField, Reader, Type } from 'protobufjs';
import { newPhoneNumber } from './devices';

/** A deterministic source of random numbers (mulberry32), so a failing input can be made again. */
export class Random {
  constructor(private state: number) {}

  /** An integer from 0 to `below` - 1. */
  below(below: number): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * below);
  }

  bytes(length: number): Uint8Array {
    return Uint8Array.from({ length }, () => this.below(256));
  }

  pick<T>(values: readonly T[]): T {
    return values[this.below(values.length)]!;
  }
}

/** Values a seed request takes for fields that name the caller, so mutations of it reach the handlers. */
export interface SeedValues {
  readonly accountId: string;
  readonly deviceId: number;
}

function seedValue(field: Field, values: SeedValues, depth: number): unknown {
  const name = field.name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  if (field.resolvedType instanceof Type) {
    return depth < 4 ? seedObject(field.resolvedType, values, depth + 1) : {};
  }
  if (field.resolvedType instanceof Enum) {
    return Object.values(field.resolvedType.values).find((value) => value !== 0) ?? 0;
  }
  if (/account_ids?$/.test(name)) return values.accountId;
  if (name === 'device_id') return values.deviceId;
  if (name === 'phone_number') return newPhoneNumber();
  switch (field.type) {
    case 'string':
      return 'tandem';
    case 'bytes':
      return randomBytes(32);
    case 'bool':
      return true;
    case 'double':
    case 'float':
      return 1.5;
    default:
      return 1;
  }
}

function seedObject(type: Type, values: SeedValues, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const oneofsSet = new Set<string>();
  for (const field of type.fieldsArray) {
    if (field.partOf) {
      if (oneofsSet.has(field.partOf.name)) continue;
      oneofsSet.add(field.partOf.name);
    }
    const value = seedValue(field, values, depth);
    if (field instanceof MapField) {
      const key = field.keyType === 'string' ? 'key' : field.keyType === 'bool' ? 'true' : '1';
      object[field.name] = { [key]: value };
    } else {
      object[field.name] = field.repeated ? [value] : value;
    }
  }
  return object;
}

/** A valid request of `type` with every field set (one member per oneof), as a client encodes it. */
export function seedRequest(type: Type, values: SeedValues): Uint8Array {
  // A plain Uint8Array, not the Buffer protobufjs returns: the mutations copy it with slice().
  return Uint8Array.from(type.encode(type.fromObject(seedObject(type, values, 0))).finish());
}

/** One input for an RPC, and whether any correct server must refuse it as undecodable. */
export interface FuzzInput {
  readonly kind:
    'random' | 'truncated' | 'bit flips' | 'wrong wire type' | 'huge length' | 'appended' | 'seed';
  readonly bytes: Uint8Array;
  readonly mustRefuse: boolean;
}

/** A top-level field of an encoded message: where its tag starts, where its tag ends, where it ends. */
interface FieldSpan {
  readonly start: number;
  readonly tagEnd: number;
  readonly end: number;
  readonly number: number;
  readonly wireType: number;
}

function fieldSpans(encoded: Uint8Array): FieldSpan[] {
  const reader = Reader.create(encoded);
  const spans: FieldSpan[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const tagEnd = reader.pos;
    reader.skipType(tag & 7);
    spans.push({ start, tagEnd, end: reader.pos, number: tag >>> 3, wireType: tag & 7 });
  }
  return spans;
}

const wireTypeOfScalar: Readonly<Record<string, number>> = {
  double: 1,
  float: 5,
  int32: 0,
  uint32: 0,
  sint32: 0,
  int64: 0,
  uint64: 0,
  sint64: 0,
  fixed32: 5,
  sfixed32: 5,
  fixed64: 1,
  sfixed64: 1,
  bool: 0,
  string: 2,
  bytes: 2,
};

/** Wire types a declared field may come with: its own, and length-delimited when packed. */
function allowedWireTypes(field: Field): number[] {
  if (field instanceof MapField || field.resolvedType instanceof Type) return [2];
  if (field.resolvedType instanceof Enum) return field.repeated ? [0, 2] : [0];
  const own = wireTypeOfScalar[field.type] ?? 2;
  return field.repeated && own !== 2 ? [own, 2] : [own];
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  do {
    let byte = Number(value & 0x7fn);
    value >>= 7n;
    if (value > 0n) byte |= 0x80;
    out.push(byte);
  } while (value > 0n);
  return out;
}

const concat = (...parts: (Uint8Array | readonly number[])[]) =>
  Uint8Array.from(parts.flatMap((part) => Array.from(part)));

/**
 * Makes inputs for one RPC from a valid request of its type: random bytes, the seed cut short
 * (refused unless cut between two fields), bits flipped, a field's wire type changed to one its
 * type cannot have (refused), a length far past the end (refused), bytes appended, the seed itself.
 */
export class FuzzInputs {
  private readonly spans: FieldSpan[];
  private readonly fieldEnds: Set<number>;

  constructor(
    private readonly type: Type,
    private readonly seed: Uint8Array,
    private readonly random: Random,
  ) {
    this.spans = fieldSpans(seed);
    this.fieldEnds = new Set([0, ...this.spans.map((span) => span.end)]);
  }

  next(): FuzzInput {
    const roll = this.random.below(100);
    if (roll < 20)
      return { kind: 'random', bytes: this.random.bytes(this.random.below(64)), mustRefuse: false };
    if (roll < 40 && this.seed.length > 0) {
      const cut = this.random.below(this.seed.length);
      return { kind: 'truncated', bytes: this.seed.slice(0, cut), mustRefuse: !this.fieldEnds.has(cut) };
    }
    if (roll < 60 && this.seed.length > 0) {
      const bytes = this.seed.slice();
      for (let flips = 1 + this.random.below(4); flips > 0; flips--) {
        bytes[this.random.below(bytes.length)]! ^= 1 << this.random.below(8);
      }
      return { kind: 'bit flips', bytes, mustRefuse: false };
    }
    if (roll < 75) return this.wrongWireType();
    if (roll < 90) return this.hugeLength();
    if (roll < 95)
      return {
        kind: 'appended',
        bytes: concat(this.seed, this.random.bytes(1 + this.random.below(16))),
        mustRefuse: false,
      };
    return { kind: 'seed', bytes: this.seed, mustRefuse: false };
  }

  private wrongWireType(): FuzzInput {
    const span = this.spans.length > 0 ? this.random.pick(this.spans) : undefined;
    const field = span && this.type.fieldsById[span.number];
    if (!span || !field) {
      // No field to change: an unknown field with a wire type that does not exist.
      return {
        kind: 'wrong wire type',
        bytes: concat(this.seed, [0x78 | (6 + this.random.below(2))]),
        mustRefuse: true,
      };
    }
    const allowed = allowedWireTypes(field);
    const wrong = this.random.pick(
      [0, 1, 2, 3, 4, 5, 6, 7].filter((wireType) => !allowed.includes(wireType)),
    );
    const bytes = this.seed.slice();
    bytes[span.start] = (bytes[span.start]! & ~7) | wrong;
    return { kind: 'wrong wire type', bytes, mustRefuse: true };
  }

  private hugeLength(): FuzzInput {
    const delimited = this.spans.filter((span) => span.wireType === 2);
    const span = delimited.length > 0 ? this.random.pick(delimited) : undefined;
    const remaining = span ? this.seed.length - span.tagEnd : 1;
    const huge = this.random.pick([
      BigInt(remaining + 1 + this.random.below(1000)),
      2n ** 32n - 1n,
      2n ** 32n + BigInt(this.random.below(remaining)),
      2n ** 63n,
    ]);
    if (!span) {
      // No length to change: an unknown length-delimited field 15 whose length runs past the end.
      return {
        kind: 'huge length',
        bytes: concat(this.seed, [0x7a], varint(huge), [0x41]),
        mustRefuse: true,
      };
    }
    const lengthEnd = varintEnd(this.seed, span.tagEnd);
    return {
      kind: 'huge length',
      bytes: concat(this.seed.subarray(0, span.tagEnd), varint(huge), this.seed.subarray(lengthEnd)),
      mustRefuse: true,
    };
  }
}

/** Where the varint that starts at `start` ends. */
function varintEnd(bytes: Uint8Array, start: number): number {
  let at = start;
  while (bytes[at]! >= 0x80) at++;
  return at + 1;
}
