export * from './device-auth.guard';
export * from './device-authenticator';
export * from './device-directory.projection';
export * from './device-tokens';
export * from './token-keys';
export * from './device-departures';
