import { describe, expect, it } from 'vitest';
import {
  type AccountPresence,
  currentPresence,
  evolvePresence,
  initialPresence,
  isBlank,
  type PresenceInput,
  type PresenceState,
  samePresence,
  sweepPresence,
} from './account-presence';
import { type Instances, noInstances, recordInstanceAlive, sweepInstances } from './instances';

const bob = 'account-bob';
const t0 = new Date('2026-11-25T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const minute = 60_000;
const forgetAfterMs = 10 * minute;

/** Fan-out instances "f1" and "f2", both announced at t0 for a minute. */
const alive: Instances = recordInstanceAlive(
  recordInstanceAlive(noInstances(), 'f1', t0, minute),
  'f2',
  t0,
  minute,
);

const opened = (deviceId: number, seconds: number, instanceId = 'f1'): PresenceInput => ({
  type: 'InboxStreamOpened',
  deviceId,
  instanceId,
  at: at(seconds),
});
const closed = (deviceId: number, seconds: number, instanceId = 'f1'): PresenceInput => ({
  type: 'InboxStreamClosed',
  deviceId,
  instanceId,
  at: at(seconds),
});
const heartbeat = (deviceId: number, seconds: number, timeoutMs = minute): PresenceInput => ({
  type: 'HeartbeatReceived',
  deviceId,
  at: at(seconds),
  timeoutMs,
});
const left = (deviceId: number, seconds: number): PresenceInput => ({
  type: 'DeviceLeft',
  deviceId,
  at: at(seconds),
});

/** Given inputs (folded with the instances), when asked at a moment, then this presence. */
function given(inputs: readonly PresenceInput[], instances: Instances = alive) {
  const state = inputs.reduce(
    (current, input) => evolvePresence(current, input, instances),
    initialPresence(bob),
  );
  return {
    state,
    at: (seconds: number) => currentPresence(state, instances, at(seconds)),
  };
}

const summary = (presence: AccountPresence) => ({
  online: presence.online,
  lastSeen: presence.lastSeen,
  devices: presence.devices.map((device) => ({
    deviceId: device.deviceId,
    via: [
      ...device.connections.map((connection) => `stream@${connection.instanceId}`),
      ...(device.heartbeat ? ['heartbeat'] : []),
    ],
  })),
});

describe('account presence', () => {
  describe('given an account never seen', () => {
    it('is offline without last seen', () => {
      expect(summary(given([]).at(0))).toEqual({ online: false, lastSeen: undefined, devices: [] });
      expect(isBlank(given([]).state)).toBe(true);
    });
  });

  describe('when a device opens its inbox stream', () => {
    it('is online through that stream', () => {
      expect(summary(given([opened(2, 1)]).at(2))).toEqual({
        online: true,
        lastSeen: undefined,
        devices: [{ deviceId: 2, via: ['stream@f1'] }],
      });
    });

    it('changes nothing when the same stream is reported again', () => {
      const once = given([opened(2, 1)]).state;
      expect(evolvePresence(once, opened(2, 1), alive)).toBe(once);
      expect(evolvePresence(once, opened(2, 5), alive)).toBe(once);
    });
  });

  describe('when the stream closes', () => {
    it('is offline with last seen at the close', () => {
      expect(summary(given([opened(2, 1), closed(2, 9)]).at(10))).toEqual({
        online: false,
        lastSeen: at(9),
        devices: [],
      });
    });

    it('changes nothing for a close of a stream never opened, or older than the open', () => {
      const state = given([opened(2, 5)]).state;
      expect(evolvePresence(state, closed(3, 6), alive)).toBe(state);
      expect(evolvePresence(state, closed(2, 6, 'f2'), alive)).toBe(state);
      expect(evolvePresence(state, closed(2, 4), alive)).toBe(state);
    });

    it('stays online while the device holds a stream on another instance', () => {
      expect(summary(given([opened(2, 1, 'f1'), opened(2, 2, 'f2'), closed(2, 3, 'f1')]).at(4))).toEqual({
        online: true,
        lastSeen: undefined,
        devices: [{ deviceId: 2, via: ['stream@f2'] }],
      });
    });

    it('keeps the latest moment when the closes come out of order', () => {
      const presence = given([
        opened(2, 1, 'f1'),
        opened(2, 2, 'f2'),
        closed(2, 8, 'f2'),
        closed(2, 5, 'f1'),
      ]).at(9);
      expect(summary(presence)).toEqual({ online: false, lastSeen: at(8), devices: [] });
    });
  });

  describe('given several devices', () => {
    it('is online while any device is, and offline last seen when the last one left', () => {
      const inputs = [opened(1, 1), opened(2, 2), closed(2, 5)];
      expect(summary(given(inputs).at(6))).toMatchObject({ online: true, lastSeen: undefined });
      expect(summary(given([...inputs, closed(1, 7)]).at(8))).toEqual({
        online: false,
        lastSeen: at(7),
        devices: [],
      });
    });

    it('takes the latest moment any device was online, whichever went last', () => {
      expect(
        summary(given([opened(1, 1), opened(2, 2), closed(2, 9), closed(1, 7)]).at(10)).lastSeen,
      ).toEqual(at(9));
    });
  });

  describe('when a device sends heartbeats', () => {
    it('is online until the timeout after the latest one', () => {
      const presence = given([heartbeat(3, 0), heartbeat(3, 30)]);
      expect(summary(presence.at(89))).toEqual({
        online: true,
        lastSeen: undefined,
        devices: [{ deviceId: 3, via: ['heartbeat'] }],
      });
      expect(presence.state.devices[0]!.heartbeat).toEqual({
        since: at(0),
        lastAt: at(30),
        expiresAt: at(90),
      });
    });

    it('is offline once they stop for the timeout, last seen at the last heartbeat', () => {
      expect(summary(given([heartbeat(3, 0), heartbeat(3, 30)]).at(90))).toEqual({
        online: false,
        lastSeen: at(30),
        devices: [],
      });
    });

    it('starts a new run after the heartbeats expired, keeping the old run in last seen', () => {
      const state = given([heartbeat(3, 0), heartbeat(3, 100)]).state;
      expect(state.devices[0]!.heartbeat).toEqual({ since: at(100), lastAt: at(100), expiresAt: at(160) });
      expect(state.lastSeen).toEqual(at(0));
    });

    it('never shortens the time online for a heartbeat read late', () => {
      const state = given([heartbeat(3, 30), heartbeat(3, 10)]).state;
      expect(state.devices[0]!.heartbeat).toEqual({ since: at(30), lastAt: at(30), expiresAt: at(90) });
    });

    it('is online through both when the device also holds a stream', () => {
      const presence = given([opened(3, 1), heartbeat(3, 2)]);
      expect(summary(presence.at(3)).devices).toEqual([{ deviceId: 3, via: ['stream@f1', 'heartbeat'] }]);
      expect(summary(presence.at(70))).toEqual({ online: false, lastSeen: at(2), devices: [] });
    });
  });

  describe('when the fan-out instance holding a stream stops saying it is alive', () => {
    it('is offline after valid_for_ms, last seen at its last InstanceAlive', () => {
      const later = recordInstanceAlive(alive, 'f1', at(20), minute);
      const presence = given([opened(2, 5)], later);
      expect(presence.at(79).online).toBe(true);
      expect(summary(presence.at(80))).toEqual({ online: false, lastSeen: at(20), devices: [] });
    });

    it('is online again when the instance was only late to say so', () => {
      const state = given([opened(2, 5)]).state;
      expect(currentPresence(state, alive, at(61)).online).toBe(false);
      const late = recordInstanceAlive(alive, 'f1', at(61), minute);
      expect(currentPresence(state, late, at(62)).online).toBe(true);
    });

    it('counts a stream on an instance it has not heard of as not online', () => {
      expect(given([opened(2, 5, 'unknown')]).at(6).online).toBe(false);
    });
  });

  describe('when a device leaves the account', () => {
    it('is offline at once, last seen when it left', () => {
      expect(summary(given([opened(2, 1), heartbeat(2, 2), left(2, 4)]).at(5))).toEqual({
        online: false,
        lastSeen: at(4),
        devices: [],
      });
    });

    it('keeps last seen when the device was not online', () => {
      const presence = given([opened(2, 1), closed(2, 3), left(2, 10)]);
      expect(presence.state.lastSeen).toEqual(at(3));
      expect(presence.state.devices).toEqual([]);
    });
  });

  describe('when swept', () => {
    it('drops expired heartbeats and keeps their last moment', () => {
      const state = given([heartbeat(3, 0), opened(4, 1)]).state;
      const swept = sweepPresence(state, alive, at(60), forgetAfterMs);
      expect(swept.devices.map((device) => device.deviceId)).toEqual([4]);
      expect(swept.lastSeen).toEqual(at(0));
      expect(sweepPresence(state, alive, at(30), forgetAfterMs)).toBe(state);
    });

    it('keeps streams on a dead instance until presence has seen it dead for the forget period', () => {
      const state = given([opened(2, 5)]).state;
      const deadAt = sweepInstances(alive, at(61), forgetAfterMs);
      expect(sweepPresence(state, deadAt, at(61), forgetAfterMs)).toBe(state);
      const forgettable = at(61 + forgetAfterMs / 1000);
      const swept = sweepPresence(state, deadAt, forgettable, forgetAfterMs);
      expect(swept.devices).toEqual([]);
      expect(swept.lastSeen).toEqual(at(5));
    });

    it('drops streams on instances already forgotten', () => {
      const swept = sweepPresence(given([opened(2, 5, 'gone')]).state, alive, at(6), forgetAfterMs);
      expect(swept).toEqual({ accountId: bob, devices: [], lastSeen: at(5) });
    });
  });

  describe('comparing presences', () => {
    const base = (state: PresenceState, seconds: number) => currentPresence(state, alive, at(seconds));

    it('sees no change in a heartbeat that only extends the time online', () => {
      expect(
        samePresence(
          base(given([heartbeat(3, 0)]).state, 1),
          base(given([heartbeat(3, 0), heartbeat(3, 20)]).state, 21),
        ),
      ).toBe(true);
    });

    it('sees a change in online, last seen, devices and the way they are online', () => {
      const online = base(given([opened(2, 1)]).state, 2);
      expect(samePresence(online, base(given([opened(2, 1), closed(2, 3)]).state, 4))).toBe(false);
      expect(samePresence(online, base(given([opened(2, 1), opened(3, 1)]).state, 2))).toBe(false);
      expect(samePresence(online, base(given([opened(2, 1), heartbeat(2, 1)]).state, 2))).toBe(false);
      expect(samePresence(online, base(given([opened(2, 1, 'f2')]).state, 2))).toBe(false);
      expect(
        samePresence(
          base(given([opened(2, 1), closed(2, 3)]).state, 4),
          base(given([opened(2, 1), closed(2, 5)]).state, 6),
        ),
      ).toBe(false);
      expect(samePresence(online, base(given([opened(2, 1)]).state, 50))).toBe(true);
    });
  });
});
