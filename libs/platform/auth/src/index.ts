export * from './device-auth.guard';
export * from './device-authenticator';
export * from './device-lookup';
export * from './device-tokens';
export * from './token-keys';
