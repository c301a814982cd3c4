export * from './blob-store.port';
export * from './blob-store.filesystem';
export * from './blob-store.s3';
export * from './blob-store.open';
