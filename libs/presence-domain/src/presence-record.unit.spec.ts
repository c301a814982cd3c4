import { describe, expect, it } from 'vitest';
import { currentPresence, evolvePresence, initialPresence, type PresenceInput } from './account-presence';
import { assumeInstanceAlive, noInstances, recordInstanceAlive } from './instances';
import { restorePresence, toPresenceChanged } from './presence-record';

const bob = 'account-bob';
const t0 = new Date('2026-11-25T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const minute = 60_000;
const instances = recordInstanceAlive(noInstances(), 'f1', t0, minute);

const fold = (inputs: PresenceInput[]) =>
  inputs.reduce((state, input) => evolvePresence(state, input, instances), initialPresence(bob));

describe('the presence record', () => {
  describe('when an account is online through a stream and heartbeats', () => {
    const state = fold([
      { type: 'InboxStreamOpened', deviceId: 2, instanceId: 'f1', at: at(1) },
      { type: 'HeartbeatReceived', deviceId: 1, at: at(2), timeoutMs: minute },
    ]);
    const record = toPresenceChanged(currentPresence(state, instances, at(3)), at(3));

    it('records which devices are online and how', () => {
      expect(record).toEqual({
        accountId: bob,
        online: true,
        lastSeen: undefined,
        devices: [
          { deviceId: 1, inboxStreams: [], heartbeat: { since: at(2), lastAt: at(2), expiresAt: at(62) } },
          { deviceId: 2, inboxStreams: [{ instanceId: 'f1', connectedAt: at(1) }], heartbeat: undefined },
        ],
        changedAt: at(3),
      });
    });

    it('restores the same presence, its heartbeat holding at least one timeout after the restore', () => {
      const restoredAt = at(300);
      const restored = restorePresence(record, restoredAt, minute);
      expect(restored.devices[0]!.heartbeat).toEqual({ since: at(2), lastAt: at(2), expiresAt: at(360) });
      const known = assumeInstanceAlive(noInstances(), 'f1', restoredAt, minute);
      const presence = currentPresence(restored, known, at(301));
      expect(presence.online).toBe(true);
      expect(presence.devices.map((device) => device.deviceId)).toEqual([1, 2]);
    });

    it('keeps a recorded expiry later than the restore grace', () => {
      expect(restorePresence(record, at(0), 1_000).devices[0]!.heartbeat?.expiresAt).toEqual(at(62));
    });
  });

  describe('when an account is offline', () => {
    const state = fold([
      { type: 'InboxStreamOpened', deviceId: 2, instanceId: 'f1', at: at(1) },
      { type: 'InboxStreamClosed', deviceId: 2, instanceId: 'f1', at: at(9) },
    ]);
    const record = toPresenceChanged(currentPresence(state, instances, at(10)), at(10));

    it('records last seen and no devices', () => {
      expect(record).toEqual({
        accountId: bob,
        online: false,
        lastSeen: at(9),
        devices: [],
        changedAt: at(10),
      });
    });

    it('restores it', () => {
      expect(restorePresence(record, at(100), minute)).toEqual({
        accountId: bob,
        devices: [],
        lastSeen: at(9),
      });
    });
  });

  it('restores a record that forgot the account as blank', () => {
    expect(
      restorePresence(
        { accountId: bob, online: false, lastSeen: undefined, devices: [], changedAt: t0 },
        t0,
        minute,
      ),
    ).toEqual({ accountId: bob, devices: [] });
  });
});
