import {
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** W3C trace context as Tandem stores it: in event envelopes, Kafka headers and inbox entries. */
export interface TraceContext {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/**
 * Stored trace context is always W3C, whatever OTEL_PROPAGATORS says about the wire, so it is
 * read and written with the W3C propagator itself and needs no SDK (tests read it too).
 */
const w3c = new W3CTraceContextPropagator();

/** The tracer of Tandem's own spans; a no-op until the SDK has started. */
export function tandemTracer(): Tracer {
  return trace.getTracer('tandem');
}

/** The trace context of the span active in `from` (or of `from` itself); undefined when none is. */
export function traceContextOf(from: Context | Span = context.active()): TraceContext | undefined {
  const active = 'spanContext' in from ? trace.setSpan(ROOT_CONTEXT, from) : from;
  const carrier: { traceparent?: string; tracestate?: string } = {};
  w3c.inject(active, carrier, defaultTextMapSetter);
  return carrier.traceparent ? carrier : undefined;
}

/** A context whose parent is the span the stored trace context names, to continue its trace. */
export function contextFrom(stored: TraceContext): Context {
  if (!stored.traceparent) return ROOT_CONTEXT;
  return w3c.extract(ROOT_CONTEXT, stored, defaultTextMapGetter);
}
