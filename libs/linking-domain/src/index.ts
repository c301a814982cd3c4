export * from './device-list-content';
export * from './device-list.decider';
export * from './link-session.decider';
