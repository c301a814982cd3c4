export * from './decider-specification';
export * from './infrastructure';
export * from './mongo-operations';
export * from './delaying-proxy';
