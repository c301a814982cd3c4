export * from './device-list.decider';
