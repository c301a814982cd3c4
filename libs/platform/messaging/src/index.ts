export * from './event-log.port';
export * from './error-reporting';
export * from './partitioner';
export * from './event-log.kafka';
export * from './kafka-client-security';
export * from './kafka-record';
export * from './event-log.embedded';
export * from './event-log-reader.embedded';
