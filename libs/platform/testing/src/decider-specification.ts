import { type Decider, type DomainErrorKind, fold, isDomainError } from '@tandem/decider';
import { expect } from 'vitest';

/**
 * Given events / when command / then events or error, for a decider (as in emmett's
 * DeciderSpecification): state is set up by folding events, never by mocking.
 */
export function deciderSpecification<Command, Event, State>(decider: Decider<Command, Event, State>) {
  return {
    given(events: readonly Event[]) {
      return {
        when(command: Command) {
          const run = (): Event[] => decider.decide(command, fold(decider, events));
          return {
            then(expected: readonly Event[]): void {
              expect(run()).toEqual(expected);
            },
            thenNothingHappens(): void {
              expect(run()).toEqual([]);
            },
            thenThrows(kind: DomainErrorKind, message?: RegExp | string): void {
              let thrown: unknown;
              try {
                run();
              } catch (error) {
                thrown = error;
              }
              expect(isDomainError(thrown), `expected a ${kind} DomainError, got ${String(thrown)}`).toBe(
                true,
              );
              if (!isDomainError(thrown)) return;
              expect(thrown.kind).toBe(kind);
              if (message !== undefined) expect(thrown.message).toMatch(message);
            },
          };
        },
      };
    },
  };
}
