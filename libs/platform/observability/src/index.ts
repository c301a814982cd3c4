// First: telemetry loads the instrumentations, which must be in place before pino loads.
export * from './telemetry';
export * from './logger';
export * from './metrics';
export * from './tracing';
