export * from './document-store.port';
export * from './document-store.mongo';
export * from './document-store.embedded';
