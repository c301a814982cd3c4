import type { Connection } from './connection';
import type { LogSource } from './log-source';
import { EmbeddedLogSource } from './log-source.embedded';
import { KafkaLogSource } from './log-source.kafka';

/** The event log the connection names, opened for reading. */
export function openLogSource(connection: Connection, reportError?: (line: string) => void): LogSource {
  return connection.mode === 'distributed'
    ? new KafkaLogSource(connection.brokers, reportError, connection.security)
    : new EmbeddedLogSource(connection.dataDir);
}
