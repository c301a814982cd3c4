import { type ArgumentsHost, Catch, type RpcExceptionFilter } from '@nestjs/common';
import { Metadata, status } from '@grpc/grpc-js';
import { type DomainErrorKind, isDomainError } from '@tandem/decider';
import { TooMuchContentionError } from '@tandem/event-sourcing';
import type { Logger } from 'pino';
import { type Observable, throwError } from 'rxjs';

const statusOfKind: Readonly<Record<DomainErrorKind, status>> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'failed-precondition': status.FAILED_PRECONDITION,
  'already-exists': status.ALREADY_EXISTS,
  'not-found': status.NOT_FOUND,
  'permission-denied': status.PERMISSION_DENIED,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  unauthenticated: status.UNAUTHENTICATED,
};

/** Trailing metadata naming the request field an INVALID_ARGUMENT is about. */
export const FIELD_METADATA_KEY = 'tandem-field';

/** Trailing metadata with the milliseconds a RESOURCE_EXHAUSTED caller should wait before retrying. */
export const RETRY_AFTER_METADATA_KEY = 'retry-after-ms';

/** Trailing metadata with a refusal's details as JSON, e.g. the current device list version. */
export const DETAILS_METADATA_KEY = 'tandem-details';

/** An error as @grpc/grpc-js sends it: a status code, a message and trailing metadata. */
export interface GrpcError {
  readonly code: status;
  readonly message: string;
  readonly details: string;
  readonly metadata: Metadata;
}

export function grpcError(code: status, message: string, metadata = new Metadata()): GrpcError {
  return { code, message, details: message, metadata };
}

/** Thrown anywhere in a request to answer with this status. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcStatusError';
  }
}

/**
 * The one place where errors become gRPC statuses: domain errors by their kind, status errors as
 * they are, a command that kept losing concurrency races ABORTED (retry), anything else INTERNAL
 * with the details logged and not sent.
 */
export function toGrpcError(error: unknown, logger?: Logger): GrpcError {
  if (isDomainError(error)) {
    const metadata = new Metadata();
    if (error.field) metadata.set(FIELD_METADATA_KEY, error.field);
    if (error.details) {
      metadata.set(DETAILS_METADATA_KEY, JSON.stringify(error.details));
      const retryAfterMs = error.details['retryAfterMs'];
      if (typeof retryAfterMs === 'number') metadata.set(RETRY_AFTER_METADATA_KEY, String(retryAfterMs));
    }
    return grpcError(statusOfKind[error.kind], error.message, metadata);
  }
  if (error instanceof GrpcStatusError) return grpcError(error.code, error.message);
  if (error instanceof TooMuchContentionError) return grpcError(status.ABORTED, error.message);
  logger?.error({ err: error }, 'request failed');
  return grpcError(status.INTERNAL, 'internal error');
}

@Catch()
export class GrpcExceptionFilter implements RpcExceptionFilter<unknown> {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => toGrpcError(exception, this.logger));
  }
}
