export * from './decider-specification';
export * from './infrastructure';
