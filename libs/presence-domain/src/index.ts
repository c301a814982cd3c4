export * from './account-presence';
export * from './instances';
export * from './presence-record';
export * from './privacy';
export * from './subscription';
export * from './typing';
