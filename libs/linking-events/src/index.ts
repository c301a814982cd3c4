export * from './device-list-event.codec';
export * from './device-directory.projection';
export * from './device-departures';
export * from './device-departures.worker';
