/**
 * The OpenTelemetry instrumentations of a service process: gRPC (server and client spans, where
 * spans are exported), kafkajs
 * (producer and consumer metrics), MongoDB (a span per command, values masked) and pino (trace_id
 * and span_id in every log line written inside a span). They patch these libraries as they load,
 * so a service's main.ts imports this module first, before anything that loads them:
 *
 *     import '@tandem/observability/instrumentation';
 *
 * `startTelemetry` (called by `main`) then gives them the SDK's tracer and meter providers.
 * (`@tandem/observability` loads this module too, but later: too late for MongoDB and pino.)
 */
import { getBooleanFromEnv, getStringFromEnv, getStringListFromEnv } from '@opentelemetry/core';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';

/** Whether the standard variables name an OTLP endpoint or an exporter (other than `none`) for a signal. */
export function exportConfigured(signal: 'TRACES' | 'METRICS'): boolean {
  const exporters = getStringListFromEnv(`OTEL_${signal}_EXPORTER`) ?? [];
  if (exporters.length > 0) return !exporters.includes('none');
  return Boolean(
    getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT') ||
    getStringFromEnv(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`),
  );
}

function createInstrumentations(): NodeSDKConfiguration['instrumentations'] {
  if (getBooleanFromEnv('OTEL_SDK_DISABLED')) return [];
  return [
    // A span per RPC, only where spans are exported: each costs more CPU than the rest of a small
    // call, and without an exporter requests still carry the client's trace context into events.
    // Probes and grpcurl's reflection calls are no one's request.
    ...(exportConfigured('TRACES')
      ? [new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch', 'ServerReflectionInfo'] })]
      : []),
    new KafkaJsInstrumentation(),
    new MongoDBInstrumentation(),
    // Logs go to stdout as JSON; to an OTel log exporter only when OTEL_LOGS_EXPORTER says so.
    new PinoInstrumentation({ disableLogSending: !getStringFromEnv('OTEL_LOGS_EXPORTER') }),
  ];
}

/** Enabled as soon as they are made: from here on the libraries are patched when they load. */
export const instrumentations = createInstrumentations();
