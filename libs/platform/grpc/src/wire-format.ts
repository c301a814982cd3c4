import { isUtf8 } from 'node:buffer';
import { Enum, type Field, MapField, Type } from 'protobufjs';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const I32 = 5;

const MAX_FIELD_NUMBER = 2 ** 29 - 1;
/** How deep messages and groups may nest, as in the reference protobuf parsers. */
const MAX_DEPTH = 100;

const wireTypeOfScalar: Readonly<Record<string, number>> = {
  int32: VARINT,
  int64: VARINT,
  uint32: VARINT,
  uint64: VARINT,
  sint32: VARINT,
  sint64: VARINT,
  bool: VARINT,
  fixed64: I64,
  sfixed64: I64,
  double: I64,
  fixed32: I32,
  sfixed32: I32,
  float: I32,
  string: LEN,
  bytes: LEN,
};

/** Varint kinds that protobufjs reads as 32 bits (enums too): a 6 to 9 byte varint shifts its reading. */
const varint32 = new Set(['int32', 'uint32', 'sint32', 'bool']);

/**
 * The 64-bit integer kinds. Tandem decodes them into JavaScript numbers (ts-proto's
 * `forceLong=number`), which hold integers exactly only up to 2^53 - 1 in size, so a value beyond
 * is refused here, never rounded.
 */
const integers64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const TWO_TO_63 = 2n ** 63n;
const TWO_TO_64 = 2n ** 64n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What a field, a repeated element or a map key or value holds. */
type Kind = { readonly scalar: string } | { readonly message: Type } | { readonly enumeration: true };

class Malformed extends Error {}

/** Why a request is refused: its bytes are malformed, or a 64-bit integer field is out of range. */
export interface RequestBytesProblem {
  /** e.g. `field 4 (device_name) is 50 bytes long, but only 3 remain`, or `size_bytes must be at most 9007199254740991` */
  readonly reason: string;
  /** The field a value out of range is in, as a dotted path of field names (e.g. `open.after_sequence`). */
  readonly field?: string;
}

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** How errors name a field, made once per field: every request's every field is checked. */
const labels = new WeakMap<Field, string>();
function labelOf(field: Field): string {
  let label = labels.get(field);
  if (label === undefined) {
    label = `field ${field.id} (${snakeCase(field.name)})`;
    labels.set(field, label);
  }
  return label;
}

function kindOf(typeName: string, resolved: Type | Enum | null): Kind {
  if (resolved instanceof Type) return { message: resolved };
  if (resolved instanceof Enum) return { enumeration: true };
  return { scalar: typeName };
}

function wireTypeOf(kind: Kind): number {
  if ('message' in kind) return LEN;
  if ('enumeration' in kind) return VARINT;
  return wireTypeOfScalar[kind.scalar] ?? LEN;
}

/**
 * Walks the protobuf wire format of one message against its type. It refuses what a decoder would
 * take wrongly or leniently: a length running past the end of its message, a truncated varint or
 * fixed-width value, a field with a wire type its declared type cannot have, an unmatched group,
 * field number 0, a string that is not UTF-8, and 32-bit varints of 6 to 9 bytes (which protobufjs
 * reads wrongly). Unknown fields are allowed when well formed.
 */
class WireReader {
  private pos = 0;
  /** The message fields the reader is inside, outermost first: the path of a field out of range. */
  private readonly enclosing: Field[] = [];
  /** The first 64-bit integer out of range, reported once the whole message proved well formed. */
  outOfRange: RequestBytesProblem | undefined;

  constructor(private readonly bytes: Uint8Array) {}

  message(type: Type | undefined, end: number, depth: number, group?: number): void {
    if (depth > MAX_DEPTH) throw new Malformed(`messages nest deeper than ${MAX_DEPTH}`);
    while (this.pos < end) {
      const { number, wireType, at } = this.tag(end);
      if (wireType === END_GROUP && group === number) return;
      const field = type?.fieldsById[number];
      if (field) this.field(field, wireType, end, depth);
      else this.unknown(number, wireType, end, depth, at);
    }
    if (group !== undefined) throw new Malformed(`group ${group} is not ended`);
  }

  private tag(end: number): { number: number; wireType: number; at: number } {
    const at = this.pos;
    const { value, size } = this.varint(end, `the field tag at byte ${at}`);
    if (size > 5 || value > 0xffffffff) throw new Malformed(`the field tag at byte ${at} is too long`);
    const number = Math.floor(value / 8);
    if (number < 1 || number > MAX_FIELD_NUMBER) {
      throw new Malformed(`field number ${number} at byte ${at} is out of range`);
    }
    return { number, wireType: value % 8, at };
  }

  private field(field: Field, wireType: number, end: number, depth: number): void {
    const name = labelOf(field);
    if (field instanceof MapField) {
      if (wireType !== LEN) throw new Malformed(`${name} has wire type ${wireType}, not ${LEN}`);
      const entryEnd = this.length(end, name);
      const key: Kind = { scalar: field.keyType };
      const value = kindOf(field.type, field.resolvedType);
      while (this.pos < entryEnd) {
        const { number, wireType: entryWireType, at } = this.tag(entryEnd);
        const kind = number === 1 ? key : number === 2 ? value : undefined;
        if (!kind) {
          this.unknown(number, entryWireType, entryEnd, depth + 1, at);
          continue;
        }
        if (entryWireType !== wireTypeOf(kind)) {
          const part = number === 1 ? 'key' : 'value';
          throw new Malformed(`${name} has a map ${part} of wire type ${entryWireType}`);
        }
        this.value(kind, entryEnd, depth + 1, name, field);
      }
      return;
    }
    const kind = kindOf(field.type, field.resolvedType);
    const expected = wireTypeOf(kind);
    if (field.repeated && wireType === LEN && expected !== LEN) {
      const packedEnd = this.length(end, name);
      if (expected === I64 || expected === I32) {
        const width = expected === I64 ? 8 : 4;
        if ((packedEnd - this.pos) % width !== 0) {
          throw new Malformed(`${name} holds packed values that do not fill ${width}-byte units`);
        }
      }
      while (this.pos < packedEnd) this.value(kind, packedEnd, depth, name, field);
      return;
    }
    if (wireType !== expected) throw new Malformed(`${name} has wire type ${wireType}, not ${expected}`);
    this.value(kind, end, depth, name, field);
  }

  private value(kind: Kind, end: number, depth: number, name: string, field: Field): void {
    if ('message' in kind) {
      const messageEnd = this.length(end, name);
      const start = this.pos;
      this.enclosing.push(field);
      this.message(kind.message, messageEnd, depth + 1);
      this.enclosing.pop();
      if (kind.message.fullName === '.google.protobuf.Timestamp') {
        this.checkTimestamp(kind.message, start, messageEnd, field);
      }
      return;
    }
    const wireType = wireTypeOf(kind);
    const integer64 = 'scalar' in kind && integers64.has(kind.scalar) ? kind.scalar : undefined;
    if (wireType === VARINT) {
      const start = this.pos;
      const { size } = this.varint(end, name);
      const read32 = 'enumeration' in kind || ('scalar' in kind && varint32.has(kind.scalar));
      if (read32 && size > 5 && size < 10) throw new Malformed(`${name} has a ${size}-byte varint`);
      // Seven bytes carry 49 bits: only a longer varint can hold a value out of range.
      if (integer64 && size > 7) this.checkRange(integer64, start, size, field);
      return;
    }
    if (wireType === I64 || wireType === I32) {
      const start = this.pos;
      this.skip(wireType === I64 ? 8 : 4, end, name);
      if (integer64) this.checkRange(integer64, start, 8, field);
      return;
    }
    const valueEnd = this.length(end, name);
    if ('scalar' in kind && kind.scalar === 'string' && !isUtf8(this.bytes.subarray(this.pos, valueEnd))) {
      throw new Malformed(`${name} is not UTF-8`);
    }
    this.pos = valueEnd;
  }

  private unknown(number: number, wireType: number, end: number, depth: number, at: number): void {
    const name = `field ${number}`;
    switch (wireType) {
      case VARINT:
        this.varint(end, name);
        return;
      case I64:
        this.skip(8, end, name);
        return;
      case I32:
        this.skip(4, end, name);
        return;
      case LEN:
        this.pos = this.length(end, name);
        return;
      case START_GROUP:
        this.message(undefined, end, depth + 1, number);
        return;
      case END_GROUP:
        throw new Malformed(`byte ${at} ends group ${number}, which was not started`);
      default:
        throw new Malformed(`${name} has wire type ${wireType}, which does not exist`);
    }
  }

  /**
   * Records `field` as out of range (the first one only) when the 64-bit integer of `kind` encoded
   * in `size` bytes at `start` (a varint, or 8 bytes little-endian for the fixed kinds) is not a
   * safe JavaScript integer.
   */
  private checkRange(kind: string, start: number, size: number, field: Field): void {
    if (this.outOfRange) return;
    let value = 0n;
    if (kind === 'fixed64' || kind === 'sfixed64') {
      for (let index = 7; index >= 0; index--) value = (value << 8n) | BigInt(this.bytes[start + index]!);
    } else {
      for (let index = size - 1; index >= 0; index--) {
        value = (value << 7n) | BigInt(this.bytes[start + index]! & 0x7f);
      }
      value %= TWO_TO_64;
    }
    if (kind === 'sint64') value = value % 2n === 0n ? value / 2n : -(value + 1n) / 2n;
    else if ((kind === 'int64' || kind === 'sfixed64') && value >= TWO_TO_63) value -= TWO_TO_64;
    if (value >= -MAX_SAFE && value <= MAX_SAFE) return;
    const path = [...this.enclosing, field].map((each) => snakeCase(each.name)).join('.');
    const bound = value > 0n ? `at most ${MAX_SAFE}` : `at least -${MAX_SAFE}`;
    this.outOfRange = { reason: `${path} must be ${bound}`, field: path };
  }

  /**
   * Records `field`, a well-formed google.protobuf.Timestamp at `start` to `end`, as out of range
   * (the first one only) when its nanos are not 0 to 999,999,999, as a Timestamp's must be: the
   * decoder would otherwise carry them over into the seconds of the Date it makes.
   */
  private checkTimestamp(type: Type, start: number, end: number, field: Field): void {
    if (this.outOfRange) return;
    const { nanos } = type.decode(this.bytes.subarray(start, end)) as unknown as { nanos: number };
    if (nanos >= 0 && nanos <= 999_999_999) return;
    const path = [...this.enclosing, field].map((each) => snakeCase(each.name)).join('.');
    this.outOfRange = { reason: `${path}.nanos must be 0 to 999999999`, field: path };
  }

  /** Reads a length and returns where the value it announces ends. */
  private length(end: number, name: string): number {
    const { value, size } = this.varint(end, `the length of ${name}`);
    if (size > 5) throw new Malformed(`the length of ${name} is a ${size}-byte varint`);
    if (value > end - this.pos) {
      throw new Malformed(`${name} is ${value} bytes long, but only ${end - this.pos} remain`);
    }
    return this.pos + value;
  }

  private skip(count: number, end: number, name: string): void {
    if (count > end - this.pos) throw new Malformed(`${name} is cut short`);
    this.pos += count;
  }

  /** A varint's value (exact up to 2^53) and its size in bytes. */
  private varint(end: number, name: string): { value: number; size: number } {
    let value = 0;
    for (let size = 1; size <= 10; size++) {
      if (this.pos >= end) throw new Malformed(`${name} is cut short`);
      const byte = this.bytes[this.pos++]!;
      if (size === 10 && byte > 1) throw new Malformed(`${name} is a varint of more than 64 bits`);
      value += (byte & 0x7f) * 2 ** (7 * (size - 1));
      if (byte < 0x80) return { value, size };
    }
    throw new Malformed(`${name} is a varint of more than 10 bytes`);
  }
}

/**
 * Why `bytes` are not a request Tandem can take as a `type` message, or undefined when they are:
 * malformed (see WireReader for what is refused), or else holding a 64-bit integer that a
 * JavaScript number cannot hold exactly (beyond ±(2^53 - 1)), which is refused rather than rounded.
 * `type` must be resolved (`root.resolveAll()`).
 */
export function requestBytesProblem(type: Type, bytes: Uint8Array): RequestBytesProblem | undefined {
  const reader = new WireReader(bytes);
  try {
    reader.message(type, bytes.length, 0);
  } catch (error) {
    if (error instanceof Malformed) return { reason: error.message };
    throw error;
  }
  return reader.outOfRange;
}

/**
 * Why `bytes` are not a well-formed encoding of a `type` message, or undefined when they are (see
 * WireReader for what is refused); values out of range are not its concern (`requestBytesProblem`).
 * `type` must be resolved (`root.resolveAll()`).
 */
export function wireFormatProblem(type: Type, bytes: Uint8Array): string | undefined {
  const problem = requestBytesProblem(type, bytes);
  return problem && !problem.field ? problem.reason : undefined;
}
