/**
 * The CLI is a tool, not a service: it starts no OpenTelemetry SDK, so the instrumentations that
 * `@tandem/observability` installs when it loads would only cost time (the kafkajs one makes a span
 * for every record a replay reads). Imported first by main.ts; OTEL_SDK_DISABLED=false keeps them.
 */
process.env['OTEL_SDK_DISABLED'] ??= 'true';
