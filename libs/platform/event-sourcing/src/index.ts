export * from './event-store.port';
export * from './event-store.mongo';
export * from './event-store.embedded';
export * from './outbox-relay';
export * from './event-codec';
export * from './envelope';
export * from './command-handler';
export * from './event-consumer';
