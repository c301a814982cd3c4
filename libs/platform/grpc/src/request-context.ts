import { randomUUID } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { traceContextOf } from '@tandem/observability';

/** Metadata a client may send to tie its requests together in events and logs. */
export const CORRELATION_ID_METADATA_KEY = 'x-correlation-id';

function first(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The command context of a gRPC request: its correlation id (given or new) and trace context. The
 * trace context is the active span's, the gRPC server span (a child of the client's traceparent,
 * if it sent one), so the events the request appends are its children; without a span (no SDK),
 * the client's traceparent and tracestate are taken as they came.
 */
export function requestContext(metadata: Metadata | undefined): {
  correlationId: string;
  causationId: string;
  traceparent?: string;
  tracestate?: string;
} {
  const requestId = randomUUID();
  const correlationId = first(metadata, CORRELATION_ID_METADATA_KEY) ?? requestId;
  return {
    correlationId,
    causationId: requestId,
    ...(traceContextOf() ?? {
      traceparent: first(metadata, 'traceparent'),
      tracestate: first(metadata, 'tracestate'),
    }),
  };
}
