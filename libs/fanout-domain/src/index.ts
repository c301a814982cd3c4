export * from './coverage';
export * from './inbox';
export * from './message.decider';
export * from './inbox-head';
export * from './inbox-routing';
export * from './inbox-sequencing';
export * from './inbox.decider';
export * from './connection.decider';
