import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { IncomingRecord } from './event-log.port';

/** A message kafkajs fetched, as the event log port hands records out: its value copied, headers as strings. */
export function incomingRecordOf(topic: string, partition: number, message: KafkaMessage): IncomingRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? '',
    value: message.value ? new Uint8Array(message.value) : new Uint8Array(),
    headers: decodeHeaders(message.headers),
    timestamp: Number(message.timestamp),
  };
}

/** Each header's first value as a string. */
function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) decoded[name] = first.toString();
  }
  return decoded;
}
