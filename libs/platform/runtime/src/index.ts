export * from './infrastructure';
export * from './run-services';
export * from './service';
export * from './service-parts';
export * from './service-builder';
export * from './service-definition';
