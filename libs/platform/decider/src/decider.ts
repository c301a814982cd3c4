/**
 * A decider is the pure core of an aggregate (Jérémie Chassaing's pattern, as in emmett):
 * `decide` turns a command and the current state into new events or a DomainError,
 * `evolve` folds one event into the state, `initialState` starts the fold.
 * Time, ids and lookups arrive inside the command, so a decider never does I/O.
 */
export interface Decider<Command, Event, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}

/** Folds events into state with a decider's `evolve`. */
export function fold<Command, Event, State>(
  decider: Decider<Command, Event, State>,
  events: readonly Event[],
  state: State = decider.initialState(),
): State {
  return events.reduce((current, event) => decider.evolve(current, event), state);
}

/** Exhaustiveness check for switches over discriminated unions. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
