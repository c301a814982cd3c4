/**
 * An account's presence as the compacted topic keeps it (PresenceChanged), and back. A restarted
 * presence service folds the newest record of every account into its state.
 * Invariants:
 * - a record holds only what counted when it was written: online devices and how;
 * - heartbeat renewals are not recorded, so a restored heartbeat holds at least one timeout after
 *   the restore: a device that keeps sending heartbeats does not flicker offline because
 *   presence restarted, and one that stopped goes offline one timeout later.
 */
import type { PresenceChanged } from '@tandem/contracts/tandem/presence/v1/events';
import type { AccountPresence, DeviceState, PresenceState } from './account-presence';

export function toPresenceChanged(presence: AccountPresence, changedAt: Date): PresenceChanged {
  return {
    accountId: presence.accountId,
    online: presence.online,
    lastSeen: presence.lastSeen,
    devices: presence.devices.map((device) => ({
      deviceId: device.deviceId,
      inboxStreams: device.connections.map((connection) => ({ ...connection })),
      heartbeat: device.heartbeat ? { ...device.heartbeat } : undefined,
    })),
    changedAt,
  };
}

/** The state a record stands for, restored at `restoredAt`. */
export function restorePresence(
  record: PresenceChanged,
  restoredAt: Date,
  heartbeatTimeoutMs: number,
): PresenceState {
  const devices: DeviceState[] = [];
  const changedAt = record.changedAt ?? restoredAt;
  for (const device of record.devices) {
    const connections = device.inboxStreams.map((stream) => ({
      instanceId: stream.instanceId,
      connectedAt: stream.connectedAt ?? changedAt,
    }));
    const recorded = device.heartbeat;
    const heartbeat = recorded
      ? {
          since: recorded.since ?? changedAt,
          lastAt: recorded.lastAt ?? changedAt,
          expiresAt: new Date(
            Math.max(recorded.expiresAt?.getTime() ?? 0, restoredAt.getTime() + heartbeatTimeoutMs),
          ),
        }
      : undefined;
    if (connections.length === 0 && !heartbeat) continue;
    devices.push({ deviceId: device.deviceId, connections, ...(heartbeat ? { heartbeat } : {}) });
  }
  devices.sort((a, b) => a.deviceId - b.deviceId);
  return {
    accountId: record.accountId,
    devices,
    ...(record.lastSeen && !record.online ? { lastSeen: record.lastSeen } : {}),
  };
}
