export * from './media';
export * from './media.decider';
export * from './history-bundle.decider';
export * from './backup-references';
