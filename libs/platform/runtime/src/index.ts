export * from './infrastructure';
export * from './run-services';
export * from './service';
export * from './service-parts';
