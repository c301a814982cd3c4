export * from './grpc-errors';
export * from './grpc-loader-options';
export * from './grpc-server';
export * from './request-context';
export * from './timestamps';
export * from './rate-limit';
export * from './rpc-metrics.interceptor';
