import { parse, Reader, type Type } from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { requestBytesProblem, wireFormatProblem } from './wire-format';

const { root } = parse(`
  syntax = "proto3";
  package sample.v1;
  message Inner { string text = 1; uint64 version = 2; }
  message Wide {
    int64 signed = 1;
    uint64 unsigned = 2;
    sint64 zigzag = 3;
    fixed64 fixed = 4;
    sfixed64 signed_fixed = 5;
    repeated uint64 packed = 6;
    repeated fixed64 packed_fixed = 7;
    Inner inner = 8;
    map<string, Inner> by_name = 9;
  }
  enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; }
  message Sample {
    string name = 1;
    bytes key = 2;
    uint32 id = 3;
    int64 big = 4;
    Inner inner = 5;
    repeated uint32 numbers = 6;
    repeated fixed32 fixed = 7;
    map<string, Inner> by_name = 8;
    Color color = 9;
    repeated string tags = 10;
    double ratio = 11;
    sint32 delta = 12;
  }
`);
root.resolveAll();
const sample = root.lookupType('sample.v1.Sample');
const wide = root.lookupType('sample.v1.Wide');

const encode = (type: Type, value: object) => type.encode(type.fromObject(value)).finish();
const bytes = (...values: number[]) => Uint8Array.from(values);
const full = encode(sample, {
  name: 'Ada',
  key: Buffer.from([1, 2, 3]),
  id: 4294967295,
  big: -5,
  inner: { text: 'hi' },
  numbers: [1, 300, 70000],
  fixed: [7, 8],
  byName: { ada: { text: 'x' } },
  color: 1,
  tags: ['a', 'ü'],
  ratio: 0.5,
  delta: -3,
});

/** Where each top-level field of `encoded` ends: the only places a message can be cut and stay valid. */
function fieldEnds(encoded: Uint8Array): Set<number> {
  const reader = Reader.create(encoded);
  const ends = new Set([0]);
  while (reader.pos < reader.len) {
    reader.skipType(reader.uint32() & 7);
    ends.add(reader.pos);
  }
  return ends;
}

describe('the wire format of a request', () => {
  it('is accepted as protobufjs encodes it, with every kind of field', () => {
    expect(wireFormatProblem(sample, full)).toBeUndefined();
    expect(wireFormatProblem(sample, new Uint8Array())).toBeUndefined();
  });

  it('is refused when cut anywhere but between two fields', () => {
    const ends = fieldEnds(full);
    for (let length = 0; length <= full.length; length++) {
      const problem = wireFormatProblem(sample, full.subarray(0, length));
      if (ends.has(length)) expect(problem, `cut at ${length}`).toBeUndefined();
      else expect(problem, `cut at ${length}`).toBeDefined();
    }
  });

  it('is refused when a length runs past the end, naming the field', () => {
    expect(wireFormatProblem(sample, bytes(0x0a, 10, 0x2b, 0x34, 0x39))).toBe(
      'field 1 (name) is 10 bytes long, but only 3 remain',
    );
    expect(wireFormatProblem(sample, bytes(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41))).toMatch(
      /only 1 remain/,
    );
    expect(wireFormatProblem(sample, bytes(0x0a, 0x81, 0x80, 0x80, 0x80, 0x10, 0x41))).toMatch(
      /only 1 remain/,
    );
    expect(
      wireFormatProblem(sample, bytes(0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x41)),
    ).toMatch(/length of field 1 \(name\) is a 9-byte varint/);
  });

  it('is refused for bytes that are no protobuf at all', () => {
    expect(wireFormatProblem(sample, bytes(0xff))).toMatch(/cut short/);
    expect(wireFormatProblem(sample, bytes(0x00, 0x01))).toMatch(/field number 0/);
    expect(wireFormatProblem(sample, bytes(0x0e))).toMatch(/wire type 6/);
    expect(wireFormatProblem(sample, bytes(0x18, ...Array<number>(10).fill(0xff), 0x01))).toMatch(/varint/);
    expect(wireFormatProblem(sample, bytes(0x20, ...Array<number>(9).fill(0xff), 0x02))).toMatch(/64 bits/);
  });

  it('is refused when a known field comes with a wire type its type cannot have', () => {
    expect(wireFormatProblem(sample, bytes(0x08, 0x05))).toBe('field 1 (name) has wire type 0, not 2');
    expect(wireFormatProblem(sample, bytes(0x1a, 0x01, 0x01))).toBe('field 3 (id) has wire type 2, not 0');
    expect(wireFormatProblem(sample, bytes(0x2d, 1, 2, 3, 4))).toMatch(/field 5 \(inner\) has wire type 5/);
    expect(wireFormatProblem(sample, bytes(0x0b, 0x0c))).toMatch(/field 1 \(name\) has wire type 3/);
  });

  it('checks nested messages, map entries and packed values', () => {
    expect(wireFormatProblem(sample, bytes(0x2a, 0x03, 0x0a, 0x05, 0x41))).toMatch(
      /field 1 \(text\) is 5 bytes/,
    );
    expect(wireFormatProblem(sample, bytes(0x42, 0x02, 0x08, 0x01))).toMatch(/map key of wire type 0/);
    expect(wireFormatProblem(sample, bytes(0x3a, 0x05, 1, 2, 3, 4, 5))).toMatch(/4-byte units/);
    expect(wireFormatProblem(sample, bytes(0x32, 0x02, 0x01, 0x80))).toMatch(/cut short/);
    expect(wireFormatProblem(sample, bytes(0x32, 0x03, 0x01, 0x96, 0x01))).toBeUndefined();
    expect(wireFormatProblem(sample, bytes(0x30, 0x01, 0x30, 0x02))).toBeUndefined();
  });

  it('is refused for strings that are not UTF-8, and takes any bytes in a bytes field', () => {
    expect(wireFormatProblem(sample, bytes(0x0a, 0x02, 0xc3, 0x28))).toBe('field 1 (name) is not UTF-8');
    expect(wireFormatProblem(sample, bytes(0x52, 0x01, 0xff))).toBe('field 10 (tags) is not UTF-8');
    expect(wireFormatProblem(sample, bytes(0x12, 0x02, 0xc3, 0x28))).toBeUndefined();
  });

  it('is refused for varints protobufjs would read shifted, and takes the 10-byte form of 32-bit values', () => {
    expect(wireFormatProblem(sample, bytes(0x18, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00))).toBe(
      'field 3 (id) has a 7-byte varint',
    );
    expect(wireFormatProblem(sample, encode(sample, { delta: -2147483648 }))).toBeUndefined();
    expect(wireFormatProblem(sample, bytes(0x18, ...Array<number>(9).fill(0xff), 0x01))).toBeUndefined();
    expect(wireFormatProblem(sample, bytes(0x20, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00))).toBeUndefined();
  });

  it('takes well-formed unknown fields and refuses broken ones', () => {
    const unknown = bytes(0xf8, 0x01, 0x05, 0xf9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xfa, 0x01, 0x01, 0x00);
    expect(wireFormatProblem(sample, unknown)).toBeUndefined();
    expect(wireFormatProblem(sample, bytes(0xfb, 0x01, 0x08, 0x01, 0xfc, 0x01))).toBeUndefined();
    expect(wireFormatProblem(sample, bytes(0xfb, 0x01, 0x08, 0x01))).toBe('group 31 is not ended');
    expect(wireFormatProblem(sample, bytes(0xfc, 0x01))).toMatch(/ends group 31, which was not started/);
    const deep = [
      ...Array<number[]>(101).fill([0xfb, 0x01]).flat(),
      ...Array<number[]>(101).fill([0xfc, 0x01]).flat(),
    ];
    expect(wireFormatProblem(sample, bytes(...deep))).toMatch(/nest deeper/);
  });

  it('accepts only what protobufjs decodes, over random mutations of a valid message', () => {
    let seed = 42;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    for (let round = 0; round < 5000; round++) {
      const mutated = Uint8Array.from(full.subarray(0, random(full.length + 1)));
      for (let flips = random(3); flips >= 0 && mutated.length > 0; flips--) {
        mutated[random(mutated.length)] ^= 1 << random(8);
      }
      if (wireFormatProblem(sample, mutated) === undefined) {
        expect(() => sample.decode(mutated), Buffer.from(mutated).toString('hex')).not.toThrow();
      }
    }
  });
});

describe('a 64-bit integer in a request', () => {
  const MAX = '9007199254740991';
  const problem = (value: object) => requestBytesProblem(wide, encode(wide, value));
  const tooBig = (field: string) => ({ reason: `${field} must be at most ${MAX}`, field });
  const tooSmall = (field: string) => ({ reason: `${field} must be at least -${MAX}`, field });

  it('is taken up to 2^53 - 1 in size, of every 64-bit kind', () => {
    expect(
      problem({
        signed: MAX,
        unsigned: MAX,
        zigzag: `-${MAX}`,
        fixed: MAX,
        signedFixed: `-${MAX}`,
        packed: [0, 1, MAX],
        packedFixed: [MAX, 2],
        inner: { version: MAX },
      }),
    ).toBeUndefined();
    expect(problem({ signed: `-${MAX}`, zigzag: MAX, signedFixed: MAX, unsigned: 0 })).toBeUndefined();
    expect(problem({ signed: -1 })).toBeUndefined();
  });

  it('is refused beyond, naming the field and the range, whatever its kind', () => {
    expect(problem({ signed: '9223372036854775807' })).toEqual(tooBig('signed'));
    expect(problem({ signed: '9007199254740992' })).toEqual(tooBig('signed'));
    expect(problem({ signed: '-9223372036854775808' })).toEqual(tooSmall('signed'));
    expect(problem({ unsigned: '18446744073709551615' })).toEqual(tooBig('unsigned'));
    expect(problem({ zigzag: '-9007199254740992' })).toEqual(tooSmall('zigzag'));
    expect(problem({ zigzag: '9223372036854775807' })).toEqual(tooBig('zigzag'));
    expect(problem({ fixed: '18446744073709551615' })).toEqual(tooBig('fixed'));
    expect(problem({ signedFixed: '-9007199254740992' })).toEqual(tooSmall('signed_fixed'));
    expect(problem({ packed: [1, '9007199254740992'] })).toEqual(tooBig('packed'));
    expect(problem({ packedFixed: [1, '9007199254740992'] })).toEqual(tooBig('packed_fixed'));
  });

  it('is named by its path when it is in a nested message or a map value', () => {
    expect(problem({ inner: { version: '18446744073709551615' } })).toEqual(tooBig('inner.version'));
    expect(problem({ byName: { a: { version: '9007199254740992' } } })).toEqual(tooBig('by_name.version'));
  });

  it('is refused in its unpacked and its 10-byte forms too', () => {
    const unpacked = Uint8Array.from([0x30, 0x01, 0x30, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(requestBytesProblem(wide, unpacked)).toEqual(tooBig('packed'));
    const minusOne = Uint8Array.from([0x08, ...Array<number>(9).fill(0xff), 0x01]);
    expect(requestBytesProblem(wide, minusOne)).toBeUndefined();
    const huge = Uint8Array.from([0x10, ...Array<number>(9).fill(0xff), 0x01]);
    expect(requestBytesProblem(wide, huge)).toEqual(tooBig('unsigned'));
  });

  it('leaves malformed bytes to be refused as such, and is no wire-format problem itself', () => {
    const cut = Uint8Array.from([...encode(wide, { unsigned: '18446744073709551615' }), 0x08]);
    expect(requestBytesProblem(wide, cut)).toEqual({ reason: 'field 1 (signed) is cut short' });
    expect(wireFormatProblem(wide, encode(wide, { unsigned: '18446744073709551615' }))).toBeUndefined();
  });
});

describe('a google.protobuf.Timestamp in a request', () => {
  const { root: timestamps } = parse(`
    syntax = "proto3";
    package google.protobuf;
    message Timestamp { int64 seconds = 1; int32 nanos = 2; }
  `);
  parse(
    `
    syntax = "proto3";
    package sample.v1;
    message Dated { google.protobuf.Timestamp created_at = 1; Dated inner = 2; }
  `,
    timestamps,
  );
  timestamps.resolveAll();
  const dated = timestamps.lookupType('sample.v1.Dated');

  it('is taken with nanos from 0 to 999,999,999', () => {
    for (const nanos of [0, 1, 999_999_999]) {
      expect(requestBytesProblem(dated, encode(dated, { createdAt: { seconds: 1, nanos } }))).toBeUndefined();
    }
  });

  it('is refused with nanos beyond, naming the field, also in a nested message', () => {
    expect(
      requestBytesProblem(dated, encode(dated, { createdAt: { seconds: 1, nanos: 1_000_000_000 } })),
    ).toEqual({
      reason: 'created_at.nanos must be 0 to 999999999',
      field: 'created_at',
    });
    expect(requestBytesProblem(dated, encode(dated, { inner: { createdAt: { nanos: -1 } } }))).toEqual({
      reason: 'inner.created_at.nanos must be 0 to 999999999',
      field: 'inner.created_at',
    });
    expect(wireFormatProblem(dated, encode(dated, { createdAt: { nanos: -1 } }))).toBeUndefined();
  });
});
