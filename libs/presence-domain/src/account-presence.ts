/**
 * Account presence: which devices of an account are online and how, and when the account was
 * last seen. A device is online while it holds an inbox stream on a fan-out instance that is
 * alive, or while its heartbeats have not expired; the account is online while any device is,
 * and offline its last seen is the latest moment any device was online.
 * Invariants:
 * - a device has at most one inbox connection per fan-out instance; a close older than the open
 *   it would end, or of a stream never opened, changes nothing (events may come again);
 * - last seen never moves back;
 * - a heartbeat extends the device's time online; after it expired the next one starts anew;
 * - time comes with every input and every question: nothing here reads a clock.
 *
 * The state holds what fanout and heartbeats said (`PresenceState`); what counts at a moment,
 * given which instances are alive, is `currentPresence`. A stream on an instance found dead stays
 * in the state until the instance is forgotten, so an instance that was only late with its
 * InstanceAlive gets its devices back online.
 */
import { assertNever } from '@tandem/decider';
import { type Instances, instanceLastAlive, isInstanceAlive, isInstanceGone } from './instances';

export interface InboxConnection {
  /** The fan-out instance that holds the stream. */
  readonly instanceId: string;
  readonly connectedAt: Date;
}

export interface Heartbeat {
  /** The first heartbeat of this run. */
  readonly since: Date;
  /** The latest heartbeat. */
  readonly lastAt: Date;
  /** When the device goes offline unless another heartbeat comes. */
  readonly expiresAt: Date;
}

export interface DeviceState {
  readonly deviceId: number;
  /** Ascending by instance id. */
  readonly connections: readonly InboxConnection[];
  readonly heartbeat?: Heartbeat;
}

export interface PresenceState {
  readonly accountId: string;
  /** Devices with a connection or a heartbeat, ascending by device id. */
  readonly devices: readonly DeviceState[];
  /** The latest moment a device was online, as far as devices went offline. */
  readonly lastSeen?: Date;
}

/** A device opened its inbox stream on a fan-out instance (fanout's DeviceConnected). */
export interface InboxStreamOpened {
  readonly type: 'InboxStreamOpened';
  readonly deviceId: number;
  readonly instanceId: string;
  readonly at: Date;
}

/** A device's inbox stream on a fan-out instance ended (fanout's DeviceDisconnected). */
export interface InboxStreamClosed {
  readonly type: 'InboxStreamClosed';
  readonly deviceId: number;
  readonly instanceId: string;
  readonly at: Date;
}

/** A device sent a heartbeat; it holds for `timeoutMs`. */
export interface HeartbeatReceived {
  readonly type: 'HeartbeatReceived';
  readonly deviceId: number;
  readonly at: Date;
  readonly timeoutMs: number;
}

/** A device left the account (unlinked, or the account registered again): it is offline for good. */
export interface DeviceLeft {
  readonly type: 'DeviceLeft';
  readonly deviceId: number;
  readonly at: Date;
}

export type PresenceInput = InboxStreamOpened | InboxStreamClosed | HeartbeatReceived | DeviceLeft;

/** An account's presence at a moment: what subscribers and the presence topic are told. */
export interface AccountPresence {
  readonly accountId: string;
  readonly online: boolean;
  /** Offline: the latest moment any device was online; unset while online or never seen. */
  readonly lastSeen?: Date;
  /** The online devices with what keeps each online, ascending by device id. */
  readonly devices: readonly DeviceState[];
}

export const initialPresence = (accountId: string): PresenceState => ({ accountId, devices: [] });

const latest = (a: Date | undefined, b: Date | undefined): Date | undefined =>
  a === undefined ? b : b === undefined || a.getTime() >= b.getTime() ? a : b;

const isLive = (heartbeat: Heartbeat | undefined, now: Date): boolean =>
  heartbeat !== undefined && heartbeat.expiresAt.getTime() > now.getTime();

/** The latest moment the device was online as of `at`: `at` itself while it is. */
function deviceLastOnline(device: DeviceState, instances: Instances, at: Date): Date | undefined {
  let last: Date | undefined;
  for (const connection of device.connections) {
    last = latest(last, instanceLastAlive(instances, connection.instanceId, connection.connectedAt, at));
  }
  if (device.heartbeat) last = latest(last, isLive(device.heartbeat, at) ? at : device.heartbeat.lastAt);
  return last;
}

function withDevice(state: PresenceState, device: DeviceState): PresenceState {
  const others = state.devices.filter((known) => known.deviceId !== device.deviceId);
  const devices =
    device.connections.length === 0 && !device.heartbeat
      ? others
      : [...others, device].sort((a, b) => a.deviceId - b.deviceId);
  return { ...state, devices };
}

const deviceOf = (state: PresenceState, deviceId: number): DeviceState =>
  state.devices.find((device) => device.deviceId === deviceId) ?? { deviceId, connections: [] };

/** Folds one input into the account's state; `instances` says how long streams were held. */
export function evolvePresence(
  state: PresenceState,
  input: PresenceInput,
  instances: Instances,
): PresenceState {
  const device = deviceOf(state, input.deviceId);
  switch (input.type) {
    case 'InboxStreamOpened': {
      if (device.connections.some((connection) => connection.instanceId === input.instanceId)) return state;
      const connections = [...device.connections, { instanceId: input.instanceId, connectedAt: input.at }];
      connections.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
      return withDevice(state, { ...device, connections });
    }
    case 'InboxStreamClosed': {
      const open = device.connections.find((connection) => connection.instanceId === input.instanceId);
      if (!open || open.connectedAt.getTime() > input.at.getTime()) return state;
      const connections = device.connections.filter((connection) => connection !== open);
      return { ...withDevice(state, { ...device, connections }), lastSeen: latest(state.lastSeen, input.at) };
    }
    case 'HeartbeatReceived': {
      const expiresAt = new Date(input.at.getTime() + input.timeoutMs);
      const previous = device.heartbeat;
      if (previous && isLive(previous, input.at)) {
        const heartbeat = {
          since: previous.since,
          lastAt: latest(previous.lastAt, input.at) as Date,
          expiresAt: latest(previous.expiresAt, expiresAt) as Date,
        };
        return withDevice(state, { ...device, heartbeat });
      }
      const heartbeat = { since: input.at, lastAt: input.at, expiresAt };
      return {
        ...withDevice(state, { ...device, heartbeat }),
        lastSeen: latest(state.lastSeen, previous?.lastAt),
      };
    }
    case 'DeviceLeft': {
      const lastOnline = deviceLastOnline(device, instances, input.at);
      return {
        ...withDevice(state, { deviceId: device.deviceId, connections: [] }),
        lastSeen: latest(state.lastSeen, lastOnline),
      };
    }
    default:
      return assertNever(input);
  }
}

/** What counts at `now`: the streams on live instances and the heartbeats not expired. */
export function currentPresence(state: PresenceState, instances: Instances, now: Date): AccountPresence {
  const devices: DeviceState[] = [];
  let lastSeen = state.lastSeen;
  for (const device of state.devices) {
    const connections = device.connections.filter((connection) =>
      isInstanceAlive(instances, connection.instanceId, now),
    );
    const heartbeat = isLive(device.heartbeat, now) ? device.heartbeat : undefined;
    if (connections.length > 0 || heartbeat) {
      devices.push({ deviceId: device.deviceId, connections, ...(heartbeat ? { heartbeat } : {}) });
    } else {
      lastSeen = latest(lastSeen, deviceLastOnline(device, instances, now));
    }
  }
  const online = devices.length > 0;
  return { accountId: state.accountId, online, ...(!online && lastSeen ? { lastSeen } : {}), devices };
}

/**
 * Drops what is over for good: expired heartbeats, and streams on instances that are gone
 * (see `isInstanceGone`), keeping the moments they ended in last seen. Run it before the
 * instances are swept, while the gone ones are still known.
 */
export function sweepPresence(
  state: PresenceState,
  instances: Instances,
  now: Date,
  forgetAfterMs: number,
): PresenceState {
  let swept = state;
  for (const device of state.devices) {
    const gone = device.connections.filter((connection) =>
      isInstanceGone(instances, connection.instanceId, now, forgetAfterMs),
    );
    const expired = device.heartbeat && !isLive(device.heartbeat, now) ? device.heartbeat : undefined;
    if (gone.length === 0 && !expired) continue;
    let lastSeen = latest(swept.lastSeen, expired?.lastAt);
    for (const connection of gone) {
      lastSeen = latest(
        lastSeen,
        instanceLastAlive(instances, connection.instanceId, connection.connectedAt, now),
      );
    }
    const kept: DeviceState = {
      deviceId: device.deviceId,
      connections: device.connections.filter((connection) => !gone.includes(connection)),
      ...(expired || !device.heartbeat ? {} : { heartbeat: device.heartbeat }),
    };
    swept = { ...withDevice(swept, kept), ...(lastSeen ? { lastSeen } : {}) };
  }
  return swept;
}

/** Whether the state says nothing: no device and never seen (an account presence can forget). */
export const isBlank = (state: PresenceState): boolean =>
  state.devices.length === 0 && state.lastSeen === undefined;

const sameTime = (a: Date | undefined, b: Date | undefined): boolean => a?.getTime() === b?.getTime();

/**
 * Whether two presences tell the same: online, last seen, and the same devices online the same
 * way. A heartbeat that only extends one's time online is no change.
 */
export function samePresence(a: AccountPresence, b: AccountPresence): boolean {
  return (
    a.accountId === b.accountId &&
    a.online === b.online &&
    sameTime(a.lastSeen, b.lastSeen) &&
    a.devices.length === b.devices.length &&
    a.devices.every((device, index) => {
      const other = b.devices[index] as DeviceState;
      return (
        device.deviceId === other.deviceId &&
        sameTime(device.heartbeat?.since, other.heartbeat?.since) &&
        device.connections.length === other.connections.length &&
        device.connections.every(
          (connection, at) =>
            connection.instanceId === other.connections[at]?.instanceId &&
            sameTime(connection.connectedAt, other.connections[at]?.connectedAt),
        )
      );
    })
  );
}
