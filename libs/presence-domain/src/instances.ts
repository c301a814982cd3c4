/**
 * Fan-out instances as presence sees them: an inbox stream counts only while the fan-out instance
 * that holds it is alive, that is until the `at + valid_for_ms` of its latest InstanceAlive.
 * Invariants:
 * - liveness only grows: an older InstanceAlive (redelivered, or read late) never shortens it;
 * - an instance presence has never heard of is assumed alive for a grace period, because its
 *   InstanceAlive travels on another partition and may come after its DeviceConnected, and
 *   because a restarted presence service knows instances only from the connections it restores;
 * - an instance is forgotten (and its connections with it) only after presence has itself seen
 *   it dead for a while, never straight from old event times, so reading a backlog of old
 *   events after a restart cannot drop a stream that is still open.
 */

export interface InstanceLiveness {
  /** The `at` of the latest InstanceAlive; unset while the instance is only assumed alive. */
  readonly lastAliveAt?: Date;
  /** Its connections hold until then. */
  readonly aliveUntil: Date;
  /** When a sweep first found it past `aliveUntil`; cleared by a newer InstanceAlive. */
  readonly deadSince?: Date;
}

/** Every fan-out instance presence knows, by instance id. */
export type Instances = ReadonlyMap<string, InstanceLiveness>;

export const noInstances = (): Instances => new Map();

const later = (a: Date, b: Date): Date => (a.getTime() >= b.getTime() ? a : b);

/** An InstanceAlive: the instance's connections hold until `at + validForMs`. */
export function recordInstanceAlive(
  instances: Instances,
  instanceId: string,
  at: Date,
  validForMs: number,
): Instances {
  const until = new Date(at.getTime() + validForMs);
  const known = instances.get(instanceId);
  const next = new Map(instances);
  if (!known) {
    next.set(instanceId, { lastAliveAt: at, aliveUntil: until });
    return next;
  }
  const extended = until.getTime() > known.aliveUntil.getTime();
  next.set(instanceId, {
    lastAliveAt: known.lastAliveAt ? later(known.lastAliveAt, at) : at,
    aliveUntil: later(known.aliveUntil, until),
    ...(known.deadSince && !extended ? { deadSince: known.deadSince } : {}),
  });
  return next;
}

/** Assumes an instance presence has not heard of alive until `now + graceMs`; known ones stay as they are. */
export function assumeInstanceAlive(
  instances: Instances,
  instanceId: string,
  now: Date,
  graceMs: number,
): Instances {
  if (instances.has(instanceId)) return instances;
  const next = new Map(instances);
  next.set(instanceId, { aliveUntil: new Date(now.getTime() + graceMs) });
  return next;
}

export function isInstanceAlive(instances: Instances, instanceId: string, now: Date): boolean {
  const known = instances.get(instanceId);
  return known !== undefined && known.aliveUntil.getTime() > now.getTime();
}

/** Whether presence saw the instance dead for `forgetAfterMs` or more: its connections are over for good. */
export function isInstanceGone(
  instances: Instances,
  instanceId: string,
  now: Date,
  forgetAfterMs: number,
): boolean {
  const known = instances.get(instanceId);
  if (!known) return true;
  return known.deadSince !== undefined && known.deadSince.getTime() + forgetAfterMs <= now.getTime();
}

/**
 * The latest moment a connection through the instance was surely held: `now` while it is alive,
 * else its last InstanceAlive (never before the connection began).
 */
export function instanceLastAlive(
  instances: Instances,
  instanceId: string,
  connectedAt: Date,
  now: Date,
): Date {
  if (isInstanceAlive(instances, instanceId, now)) return now;
  const lastAliveAt = instances.get(instanceId)?.lastAliveAt;
  return lastAliveAt ? later(connectedAt, lastAliveAt) : connectedAt;
}

/**
 * A sweep: notes the instances found dead for the first time, and forgets those seen dead for
 * `forgetAfterMs` (sweep the accounts first, while they are still known).
 */
export function sweepInstances(instances: Instances, now: Date, forgetAfterMs: number): Instances {
  const next = new Map<string, InstanceLiveness>();
  for (const [instanceId, liveness] of instances) {
    if (liveness.aliveUntil.getTime() > now.getTime()) {
      next.set(instanceId, liveness);
    } else if (!liveness.deadSince) {
      next.set(instanceId, { ...liveness, deadSince: now });
    } else if (liveness.deadSince.getTime() + forgetAfterMs > now.getTime()) {
      next.set(instanceId, liveness);
    }
  }
  return next;
}
