export * from './infrastructure';
export * from './run-services';
export * from './service-builder';
export * from './service-definition';
export * from './workers';
