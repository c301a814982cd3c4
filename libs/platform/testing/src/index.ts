export * from './decider-specification';
export * from './infrastructure';
export * from './mongo-operations';
