import type { PresenceChanged } from '@tandem/contracts/tandem/presence/v1/events';
import {
  type AccountPresence,
  assumeInstanceAlive,
  currentPresence,
  evolvePresence,
  initialPresence,
  type Instances,
  isBlank,
  isInstanceAlive,
  noInstances,
  type PresenceInput,
  type PresenceState,
  recordInstanceAlive,
  restorePresence,
  samePresence,
  sweepInstances,
  sweepPresence,
  toPresenceChanged,
} from '@tandem/presence-domain';

export interface PresenceBookOptions {
  /** How long a heartbeat keeps a device online. */
  readonly heartbeatTimeoutMs: number;
  /** How long an instance presence has not heard say InstanceAlive is assumed alive. */
  readonly instanceGraceMs: number;
  /** After how long seen dead an instance, and the streams it held, are forgotten. */
  readonly forgetInstancesAfterMs: number;
}

/**
 * How long a fan-out instance presence has not heard say InstanceAlive counts as alive: fanout's
 * valid_for_ms, so a restarted presence keeps the streams it restored until the instances that
 * hold them say they are alive (every 20 s), or drops them when they do not.
 */
const INSTANCE_GRACE_MS = 60_000;

/** After how long seen dead a fan-out instance and the streams it held are forgotten. */
const FORGET_INSTANCES_AFTER_MS = 10 * 60_000;

/** The book's options for a heartbeat timeout (TANDEM_PRESENCE_TIMEOUT_SECONDS). */
export const presenceBookOptions = (timeoutSeconds: number): PresenceBookOptions => ({
  heartbeatTimeoutMs: timeoutSeconds * 1000,
  instanceGraceMs: INSTANCE_GRACE_MS,
  forgetInstancesAfterMs: FORGET_INSTANCES_AFTER_MS,
});

/** A presence record to write to the compacted topic: the account's `version`-th. */
export interface PresenceRecord {
  readonly record: PresenceChanged;
  readonly version: number;
}

/** Writes presence records to the topic; resolves once they are durable. */
export type PresencePublisher = (records: readonly PresenceRecord[]) => Promise<void>;

const blank = (accountId: string): AccountPresence => ({ accountId, online: false, devices: [] });

/**
 * Every account's presence, in memory: the state fanout's events and heartbeats made of it, what
 * counts now, and what the compacted topic says. Every change of an account's presence is told to
 * the listener at once and written to the topic by `flush`; an account whose record could not be
 * written stays due and goes with the next flush. The state is restored from the topic at start.
 */
export class PresenceBook {
  private readonly states = new Map<string, PresenceState>();
  private readonly current = new Map<string, { presence: AccountPresence; changedAt: Date }>();
  /** Accounts with a device in their state: what a sweep looks at. */
  private readonly active = new Set<string>();
  private readonly published = new Map<string, { presence: AccountPresence; version: number }>();
  private readonly due = new Set<string>();
  private instances: Instances = noInstances();
  private flushing: Promise<void> = Promise.resolve();
  private listener: ((presence: AccountPresence) => void) | undefined;

  constructor(
    private readonly publish: PresencePublisher,
    private readonly clock: () => Date,
    private readonly options: PresenceBookOptions,
  ) {}

  /** Calls `listener` with an account's presence whenever it changes. */
  onChange(listener: (presence: AccountPresence) => void): void {
    this.listener = listener;
  }

  presenceOf(accountId: string): AccountPresence {
    return this.current.get(accountId)?.presence ?? blank(accountId);
  }

  /** How many accounts the book knows and how many have devices online or about to be swept. */
  get size(): { accounts: number; active: number } {
    return { accounts: this.states.size, active: this.active.size };
  }

  /** Folds a record read from the compacted topic (at start, before anything else). */
  restore(record: PresenceChanged, version: number): void {
    const now = this.clock();
    const state = restorePresence(record, now, this.options.heartbeatTimeoutMs);
    for (const device of state.devices) {
      for (const connection of device.connections) {
        this.instances = assumeInstanceAlive(
          this.instances,
          connection.instanceId,
          now,
          this.options.instanceGraceMs,
        );
      }
    }
    this.store(state);
    const presence = currentPresence(state, this.instances, now);
    if (isBlank(state)) {
      this.current.delete(state.accountId);
      this.published.delete(state.accountId);
      return;
    }
    this.current.set(state.accountId, { presence, changedAt: record.changedAt ?? now });
    this.published.set(state.accountId, { presence, version });
  }

  /** Applies what fanout or a heartbeat said about one of the account's devices. */
  apply(accountId: string, input: PresenceInput): void {
    const now = this.clock();
    if (input.type === 'InboxStreamOpened') {
      this.instances = assumeInstanceAlive(
        this.instances,
        input.instanceId,
        now,
        this.options.instanceGraceMs,
      );
    }
    const state = this.states.get(accountId) ?? initialPresence(accountId);
    this.store(evolvePresence(state, input, this.instances));
    this.recompute(accountId, now);
  }

  /** A heartbeat from a device: it is online until the returned moment. */
  heartbeat(accountId: string, deviceId: number): Date {
    this.apply(accountId, {
      type: 'HeartbeatReceived',
      deviceId,
      at: this.clock(),
      timeoutMs: this.options.heartbeatTimeoutMs,
    });
    const device = this.states.get(accountId)?.devices.find((known) => known.deviceId === deviceId);
    return device?.heartbeat?.expiresAt ?? new Date(this.clock().getTime() + this.options.heartbeatTimeoutMs);
  }

  /** A fan-out instance said it is alive; the devices it holds streams of are online again if it was not. */
  instanceAlive(instanceId: string, at: Date, validForMs: number): void {
    const now = this.clock();
    const wasAlive = isInstanceAlive(this.instances, instanceId, now);
    this.instances = recordInstanceAlive(this.instances, instanceId, at, validForMs);
    if (!wasAlive && isInstanceAlive(this.instances, instanceId, now)) {
      for (const accountId of this.active) this.recompute(accountId, now);
    }
  }

  /** The account was deleted: presence forgets it, and the topic says so with a blank record. */
  forget(accountId: string): void {
    this.states.delete(accountId);
    this.active.delete(accountId);
    this.recompute(accountId, this.clock());
  }

  /** Ends expired heartbeats and the streams of dead instances, and drops what is over for good. */
  sweep(): void {
    const now = this.clock();
    const { forgetInstancesAfterMs } = this.options;
    for (const accountId of [...this.active]) {
      const state = this.states.get(accountId);
      if (!state) continue;
      const swept = sweepPresence(state, this.instances, now, forgetInstancesAfterMs);
      if (swept !== state) this.store(swept);
      this.recompute(accountId, now);
    }
    this.instances = sweepInstances(this.instances, now, forgetInstancesAfterMs);
  }

  /** Writes the records of the accounts whose presence changed since they were last written. */
  flush(): Promise<void> {
    const run = this.flushing.catch(() => undefined).then(() => this.writeDue());
    this.flushing = run;
    return run;
  }

  private async writeDue(): Promise<void> {
    if (this.due.size === 0) return;
    const accountIds = [...this.due];
    this.due.clear();
    const records: PresenceRecord[] = [];
    const written: { accountId: string; presence: AccountPresence; version: number }[] = [];
    for (const accountId of accountIds) {
      const entry = this.current.get(accountId);
      const presence = entry?.presence ?? blank(accountId);
      const previous = this.published.get(accountId);
      if (previous ? samePresence(previous.presence, presence) : !entry) continue;
      const version = (previous?.version ?? 0) + 1;
      records.push({ record: toPresenceChanged(presence, entry?.changedAt ?? this.clock()), version });
      written.push({ accountId, presence, version });
    }
    try {
      await this.publish(records);
    } catch (error) {
      for (const accountId of accountIds) this.due.add(accountId);
      throw error;
    }
    for (const { accountId, presence, version } of written) {
      if (this.current.has(accountId)) this.published.set(accountId, { presence, version });
      else this.published.delete(accountId);
    }
  }

  private store(state: PresenceState): void {
    if (isBlank(state)) this.states.delete(state.accountId);
    else this.states.set(state.accountId, state);
    if (state.devices.length > 0) this.active.add(state.accountId);
    else this.active.delete(state.accountId);
  }

  private recompute(accountId: string, now: Date): void {
    const state = this.states.get(accountId) ?? initialPresence(accountId);
    const presence = currentPresence(state, this.instances, now);
    if (samePresence(this.presenceOf(accountId), presence)) return;
    if (isBlank(state)) this.current.delete(accountId);
    else this.current.set(accountId, { presence, changedAt: now });
    this.due.add(accountId);
    this.listener?.(presence);
  }
}
