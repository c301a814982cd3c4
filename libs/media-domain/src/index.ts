export * from './media';
export * from './media.decider';
