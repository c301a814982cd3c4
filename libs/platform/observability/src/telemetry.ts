// First: the instrumentations must be in place before the SDK loads @grpc/grpc-js.
import { exportConfigured, instrumentations } from './instrumentation';
import { getBooleanFromEnv, getStringFromEnv } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace';

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK of a service process, with service.name = OTEL_SERVICE_NAME or the
 * process name. The instrumentations must already be loaded (`@tandem/observability/instrumentation`
 * first in main.ts); make no metric instrument before this runs.
 *
 * Nothing leaves the process unless configured:
 * - traces: spans are always made, so logs and events carry trace ids, and exported as the
 *   standard variables say (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER, OTEL_BSP_*, ...);
 *   with none of them set they are dropped;
 * - metrics: scraped from `metricsPort` at /metrics (Prometheus) when given, else exported as
 *   OTEL_METRICS_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT say, else not collected;
 * - logs: JSON on stdout; also to an OTel log exporter when OTEL_LOGS_EXPORTER names one.
 * OTEL_SDK_DISABLED=true turns all of it off.
 */
export function startTelemetry(serviceName: string, options: { readonly metricsPort?: number } = {}): void {
  if (sdk || getBooleanFromEnv('OTEL_SDK_DISABLED')) return;
  const configuration: Partial<NodeSDKConfiguration> = {
    serviceName: getStringFromEnv('OTEL_SERVICE_NAME') ?? serviceName,
    instrumentations,
  };
  if (!exportConfigured('TRACES')) {
    configuration.spanProcessors = [new NoopSpanProcessor()];
    spansPerEntry = false;
  }
  if (options.metricsPort !== undefined) {
    configuration.metricReaders = [new PrometheusExporter({ port: options.metricsPort })];
  } else if (!exportConfigured('METRICS')) {
    configuration.metricReaders = [];
  }
  if (!getStringFromEnv('OTEL_LOGS_EXPORTER')) configuration.logRecordProcessors = [];
  sdk = new NodeSDK(configuration);
  sdk.start();
}

/**
 * Whether the hot path (an inbox append, a push, per device and entry) makes spans of its own.
 * They are only made where spans are exported: without an exporter they would cost most of the
 * CPU of a push and show nowhere; requests and events still carry their trace context. True
 * unless startTelemetry found no trace exporter (a test's own SDK keeps them).
 */
let spansPerEntry = true;

export const makesSpansPerEntry = (): boolean => spansPerEntry;

/** How long a shutdown waits for the last export, so an unreachable collector does not hold it up. */
const SHUTDOWN_TIMEOUT_MS = 3_000;

/** Exports what is still buffered and stops the SDK; nothing to do when it was not started. */
export async function shutdownTelemetry(): Promise<void> {
  const started = sdk;
  sdk = undefined;
  if (!started) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    started.shutdown().catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
}
