/**
 * The expected ways a command can be refused. The gRPC layer maps each kind to one status code
 * in one place; domain code only says what went wrong and, where it helps, which field.
 */
export type DomainErrorKind =
  | 'invalid-argument'
  | 'failed-precondition'
  | 'already-exists'
  | 'not-found'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'unauthenticated';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    readonly field?: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalidArgument = (field: string, message: string): DomainError =>
  new DomainError('invalid-argument', `${field}: ${message}`, field);

export const failedPrecondition = (message: string, details?: Record<string, unknown>): DomainError =>
  new DomainError('failed-precondition', message, undefined, details);

export const alreadyExists = (message: string): DomainError => new DomainError('already-exists', message);

export const notFound = (message: string): DomainError => new DomainError('not-found', message);

export const permissionDenied = (message: string): DomainError =>
  new DomainError('permission-denied', message);

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;
