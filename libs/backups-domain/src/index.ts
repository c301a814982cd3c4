export * from './backup';
export * from './backups.decider';
