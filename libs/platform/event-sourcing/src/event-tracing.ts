import { type Attributes, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { contextFrom, tandemTracer, traceContextOf } from '@tandem/observability';
import type { CommandContext } from './command-handler';
import type { EventMetadata } from './envelope';

/** What a span about a consumed event says of it: ids and position, never its payload. */
export function eventAttributes(metadata: EventMetadata): Attributes {
  return {
    'messaging.destination.name': metadata.topic,
    'messaging.destination.partition.id': String(metadata.partition),
    'messaging.kafka.offset': Number(metadata.offset),
    'messaging.message.id': metadata.eventId,
    'tandem.event.type': metadata.type,
    'tandem.account.id': metadata.partitionKey,
  };
}

/**
 * Starts a span about a consumed event as a child of the span it was appended in (the envelope's
 * traceparent), so the consumer's work joins the trace of the request that caused the event. An
 * event without trace context starts a trace of its own.
 */
export function startEventSpan(name: string, metadata: EventMetadata, attributes: Attributes = {}): Span {
  return tandemTracer().startSpan(
    name,
    { kind: SpanKind.CONSUMER, attributes: { ...eventAttributes(metadata), ...attributes } },
    contextFrom(metadata),
  );
}

/** Runs `work` inside a span started by `startEventSpan`; a failure is recorded on the span. */
export async function inEventSpan<T>(
  name: string,
  metadata: EventMetadata,
  attributes: Attributes,
  work: () => Promise<T>,
): Promise<T> {
  const span = startEventSpan(name, metadata, attributes);
  try {
    return await context.with(trace.setSpan(context.active(), span), work);
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * The context of a command a consumer runs for an event: same correlation, caused by the event,
 * and traced as a child of the span handling it (the event's own trace context when none is).
 */
export function causedBy(metadata: EventMetadata): CommandContext {
  return {
    correlationId: metadata.correlationId,
    causationId: metadata.eventId,
    ...(traceContextOf() ?? { traceparent: metadata.traceparent, tracestate: metadata.tracestate }),
  };
}
