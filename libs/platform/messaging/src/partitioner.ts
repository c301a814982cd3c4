/**
 * Kafka's default partitioner for keyed records (Java client and kafkajs `DefaultPartitioner`):
 * `toPositive(murmur2(utf8(key))) % partitions`. The embedded log uses it too, so a key lands in the
 * same partition number in both modes.
 */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

/** Kafka's 32-bit murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), seed 0x9747b28c. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  const remaining = length & 3;
  if (remaining > 0) {
    if (remaining === 3) h ^= data[tail + 2]! << 16;
    if (remaining >= 2) h ^= data[tail + 1]! << 8;
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
