export * from './collected-stream';
export * from './devices';
export * from './grpc-client';
export * from './service-process';
export * from './repository';
export * from './inbox-stream';
export * from './test-accounts';
export * from './test-installation';
