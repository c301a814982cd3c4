export * from './account.decider';
export * from './account.validation';
export * from './phone-number.decider';
