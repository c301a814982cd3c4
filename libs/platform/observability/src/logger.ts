import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * An error as a log line shows it: its type, message, code, stack and cause, and none of its other
 * fields. Driver and client errors carry what they were sending (a MongoDB write error its
 * documents, with ciphertext; a gRPC error its metadata, with the authorization token), and pino's
 * default serializer would log all of it.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error))
    return typeof error === 'string' ? { message: error } : { value: String(error) };
  const { code } = error as { code?: unknown };
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    stack: error.stack,
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

/** Fields that never reach a log line, should one be passed by mistake. */
const REDACTED = ['authorization', '*.authorization', 'token', '*.token', 'content', '*.content'];

/**
 * JSON logs on stdout, one line an entry, each naming its service. Lines written inside a span
 * carry its trace_id and span_id (the pino instrumentation adds them).
 */
export function createLogger(service: string, level = process.env['TANDEM_LOG_LEVEL'] || 'info'): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
    redact: { paths: REDACTED, censor: '[redacted]' },
  });
}

/** NestJS's own messages, through the same JSON logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }

  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }

  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }

  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }

  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
