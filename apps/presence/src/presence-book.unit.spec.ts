import type { PresenceChanged } from '@tandem/contracts/tandem/presence/v1/events';
import type { AccountPresence } from '@tandem/presence-domain';
import { beforeEach, describe, expect, it } from 'vitest';
import { PresenceBook, type PresenceRecord } from './presence-book';

const bob = 'account-bob';
const t0 = new Date('2026-11-25T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const minute = 60_000;

/** A book on a clock the test moves, writing to an array (or failing when told to). */
function aBook() {
  let now = t0;
  const written: PresenceRecord[] = [];
  const told: AccountPresence[] = [];
  let failing = false;
  const book = new PresenceBook(
    async (records) => {
      if (failing) throw new Error('the log is down');
      written.push(...records);
    },
    () => now,
    { heartbeatTimeoutMs: minute, instanceGraceMs: minute, forgetInstancesAfterMs: 10 * minute },
  );
  book.onChange((presence) => told.push(presence));
  return {
    book,
    written,
    told,
    at: (seconds: number) => (now = at(seconds)),
    failWrites: (fail: boolean) => (failing = fail),
  };
}

const opened = (deviceId: number, seconds: number, instanceId = 'f1') =>
  ({ type: 'InboxStreamOpened', deviceId, instanceId, at: at(seconds) }) as const;
const closed = (deviceId: number, seconds: number, instanceId = 'f1') =>
  ({ type: 'InboxStreamClosed', deviceId, instanceId, at: at(seconds) }) as const;

const summary = ({ record, version }: PresenceRecord) => ({
  version,
  online: record.online,
  lastSeen: record.lastSeen,
  devices: record.devices.map((device) => device.deviceId),
});

describe('the presence book', () => {
  let given: ReturnType<typeof aBook>;

  beforeEach(() => {
    given = aBook();
    given.book.instanceAlive('f1', t0, minute);
  });

  describe("when a device's inbox stream opens and closes", () => {
    it('tells each change at once and writes each as the next version of the account', async () => {
      given.at(1);
      given.book.apply(bob, opened(2, 1));
      await given.book.flush();
      given.at(9);
      given.book.apply(bob, closed(2, 9));
      await given.book.flush();

      expect(given.told.map((presence) => presence.online)).toEqual([true, false]);
      expect(given.written.map(summary)).toEqual([
        { version: 1, online: true, lastSeen: undefined, devices: [2] },
        { version: 2, online: false, lastSeen: at(9), devices: [] },
      ]);
      expect(given.written[0]!.record.devices[0]!.inboxStreams).toEqual([
        { instanceId: 'f1', connectedAt: at(1) },
      ]);
    });

    it('writes nothing for an event that changes nothing', async () => {
      given.book.apply(bob, opened(2, 1));
      await given.book.flush();
      given.book.apply(bob, opened(2, 1));
      given.book.apply(bob, closed(3, 2));
      await given.book.flush();
      expect(given.written).toHaveLength(1);
      expect(given.told).toHaveLength(1);
    });
  });

  describe('when a device sends heartbeats', () => {
    it('writes it online once, not for each renewal, and offline once they stop for the timeout', async () => {
      given.at(0);
      expect(given.book.heartbeat(bob, 1)).toEqual(at(60));
      given.at(30);
      expect(given.book.heartbeat(bob, 1)).toEqual(at(90));
      await given.book.flush();
      given.at(89);
      given.book.sweep();
      await given.book.flush();
      expect(given.written.map(summary)).toEqual([
        { version: 1, online: true, lastSeen: undefined, devices: [1] },
      ]);

      given.at(90);
      given.book.sweep();
      await given.book.flush();
      expect(given.written.map(summary).at(-1)).toEqual({
        version: 2,
        online: false,
        lastSeen: at(30),
        devices: [],
      });
      expect(given.book.size).toEqual({ accounts: 1, active: 0 });
    });
  });

  describe('when the fan-out instance holding a stream stops saying it is alive', () => {
    it('sweeps the device offline at valid_for_ms, and back online when the instance was only late', async () => {
      given.book.apply(bob, opened(2, 5));
      given.at(60);
      given.book.sweep();
      expect(given.book.presenceOf(bob)).toEqual({
        accountId: bob,
        online: false,
        lastSeen: at(5),
        devices: [],
      });

      given.at(61);
      given.book.instanceAlive('f1', at(61), minute);
      expect(given.book.presenceOf(bob).online).toBe(true);
      expect(given.told.map((presence) => presence.online)).toEqual([true, false, true]);
    });

    it('assumes an instance it has not heard of alive for the grace period', () => {
      given.book.apply(bob, opened(2, 5, 'f2'));
      given.at(59);
      given.book.sweep();
      expect(given.book.presenceOf(bob).online).toBe(true);
      given.at(60);
      given.book.sweep();
      expect(given.book.presenceOf(bob).online).toBe(false);
    });
  });

  describe('when a write fails', () => {
    it('keeps the account due and writes it with the next flush', async () => {
      given.failWrites(true);
      given.book.apply(bob, opened(2, 1));
      await expect(given.book.flush()).rejects.toThrow('the log is down');
      given.failWrites(false);
      await given.book.flush();
      expect(given.written.map(summary)).toEqual([
        { version: 1, online: true, lastSeen: undefined, devices: [2] },
      ]);
    });
  });

  describe('when restored from the compacted topic', () => {
    const record = (overrides: Partial<PresenceChanged>): PresenceChanged => ({
      accountId: bob,
      online: true,
      lastSeen: undefined,
      devices: [
        { deviceId: 2, inboxStreams: [{ instanceId: 'f9', connectedAt: at(1) }], heartbeat: undefined },
      ],
      changedAt: at(1),
      ...overrides,
    });

    it('serves the newest record of each account and goes on from its version', async () => {
      const restored = aBook();
      restored.at(100);
      restored.book.restore(record({ online: false, lastSeen: at(1), devices: [] }), 3);
      restored.book.restore(record({}), 4);
      expect(restored.book.presenceOf(bob)).toMatchObject({ online: true, devices: [{ deviceId: 2 }] });
      expect(restored.told).toEqual([]);

      restored.at(101);
      restored.book.apply(bob, closed(2, 101, 'f9'));
      await restored.book.flush();
      expect(restored.written.map(summary)).toEqual([
        { version: 5, online: false, lastSeen: at(101), devices: [] },
      ]);
    });

    it('drops the restored streams of an instance that does not say it is alive within the grace', () => {
      const restored = aBook();
      restored.at(100);
      restored.book.restore(record({}), 1);
      restored.at(159);
      restored.book.sweep();
      expect(restored.book.presenceOf(bob).online).toBe(true);
      restored.at(160);
      restored.book.sweep();
      expect(restored.book.presenceOf(bob)).toMatchObject({ online: false, lastSeen: at(1) });
    });

    it('keeps them while the instance says it is alive, even when an old InstanceAlive is read again', () => {
      const restored = aBook();
      restored.at(100);
      restored.book.restore(record({}), 1);
      restored.book.instanceAlive('f9', at(0), minute);
      restored.at(150);
      restored.book.instanceAlive('f9', at(150), minute);
      restored.at(200);
      restored.book.sweep();
      expect(restored.book.presenceOf(bob).online).toBe(true);
    });
  });

  describe('when the account is deleted', () => {
    it('forgets it and writes a record without devices and last seen', async () => {
      given.book.apply(bob, opened(2, 1));
      await given.book.flush();
      given.book.forget(bob);
      await given.book.flush();
      expect(given.written.map(summary).at(-1)).toEqual({
        version: 2,
        online: false,
        lastSeen: undefined,
        devices: [],
      });
      expect(given.book.size).toEqual({ accounts: 0, active: 0 });
    });

    it('writes nothing when the topic never had the account', async () => {
      given.book.apply(bob, opened(2, 1));
      given.book.forget(bob);
      await given.book.flush();
      expect(given.written).toEqual([]);
    });
  });
});
