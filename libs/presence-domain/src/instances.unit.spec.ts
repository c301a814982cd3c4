import { describe, expect, it } from 'vitest';
import {
  assumeInstanceAlive,
  instanceLastAlive,
  isInstanceAlive,
  isInstanceGone,
  noInstances,
  recordInstanceAlive,
  sweepInstances,
} from './instances';

const t0 = new Date('2026-11-25T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const minute = 60_000;
const forgetAfterMs = 10 * minute;

describe('fan-out instance liveness', () => {
  describe('when an instance says it is alive', () => {
    it('is alive until at + valid_for_ms', () => {
      const instances = recordInstanceAlive(noInstances(), 'f1', at(0), minute);
      expect(isInstanceAlive(instances, 'f1', at(59))).toBe(true);
      expect(isInstanceAlive(instances, 'f1', at(60))).toBe(false);
      expect(instances.get('f1')).toEqual({ lastAliveAt: at(0), aliveUntil: at(60) });
    });

    it('is extended by each newer InstanceAlive', () => {
      const instances = recordInstanceAlive(
        recordInstanceAlive(noInstances(), 'f1', at(0), minute),
        'f1',
        at(20),
        minute,
      );
      expect(instances.get('f1')).toEqual({ lastAliveAt: at(20), aliveUntil: at(80) });
    });

    it('is never shortened by an older InstanceAlive read late or again', () => {
      const instances = recordInstanceAlive(
        recordInstanceAlive(noInstances(), 'f1', at(20), minute),
        'f1',
        at(0),
        minute,
      );
      expect(instances.get('f1')).toEqual({ lastAliveAt: at(20), aliveUntil: at(80) });
    });
  });

  describe('given an instance presence has not heard of', () => {
    it('is not alive, and gone', () => {
      expect(isInstanceAlive(noInstances(), 'f1', at(0))).toBe(false);
      expect(isInstanceGone(noInstances(), 'f1', at(0), forgetAfterMs)).toBe(true);
    });

    it('is alive for the grace period once assumed so', () => {
      const instances = assumeInstanceAlive(noInstances(), 'f1', at(0), minute);
      expect(isInstanceAlive(instances, 'f1', at(59))).toBe(true);
      expect(isInstanceAlive(instances, 'f1', at(60))).toBe(false);
    });

    it('assuming changes nothing for an instance already known, dead or alive', () => {
      const known = recordInstanceAlive(noInstances(), 'f1', at(0), minute);
      expect(assumeInstanceAlive(known, 'f1', at(500), minute)).toBe(known);
    });

    it('an InstanceAlive after the assumption keeps the longer of the two', () => {
      const instances = recordInstanceAlive(
        assumeInstanceAlive(noInstances(), 'f1', at(30), minute),
        'f1',
        at(0),
        minute,
      );
      expect(instances.get('f1')).toEqual({ lastAliveAt: at(0), aliveUntil: at(90) });
    });
  });

  describe('when swept', () => {
    const announced = recordInstanceAlive(noInstances(), 'f1', at(0), minute);

    it('keeps live instances as they are', () => {
      expect(sweepInstances(announced, at(30), forgetAfterMs).get('f1')).toEqual(announced.get('f1'));
    });

    it('notes when it first found an instance dead, and forgets it after the forget period', () => {
      const dead = sweepInstances(announced, at(100), forgetAfterMs);
      expect(dead.get('f1')?.deadSince).toEqual(at(100));
      expect(sweepInstances(dead, at(200), forgetAfterMs).get('f1')?.deadSince).toEqual(at(100));
      expect(isInstanceGone(dead, 'f1', at(699), forgetAfterMs)).toBe(false);
      expect(isInstanceGone(dead, 'f1', at(700), forgetAfterMs)).toBe(true);
      expect(sweepInstances(dead, at(700), forgetAfterMs).has('f1')).toBe(false);
    });

    it('starts counting again when the instance says it is alive after all', () => {
      const dead = sweepInstances(announced, at(100), forgetAfterMs);
      const back = recordInstanceAlive(dead, 'f1', at(101), minute);
      expect(back.get('f1')).toEqual({ lastAliveAt: at(101), aliveUntil: at(161) });
      expect(isInstanceAlive(back, 'f1', at(102))).toBe(true);
    });

    it('does not revive or restart the count for an InstanceAlive older than what it knows', () => {
      const dead = sweepInstances(announced, at(100), forgetAfterMs);
      expect(recordInstanceAlive(dead, 'f1', at(-10), minute).get('f1')?.deadSince).toEqual(at(100));
    });
  });

  describe('the last moment a connection surely held', () => {
    const announced = recordInstanceAlive(noInstances(), 'f1', at(20), minute);

    it('is now while the instance is alive', () => {
      expect(instanceLastAlive(announced, 'f1', at(5), at(30))).toEqual(at(30));
    });

    it('is the last InstanceAlive once it is dead, never before the connection began', () => {
      expect(instanceLastAlive(announced, 'f1', at(5), at(90))).toEqual(at(20));
      expect(instanceLastAlive(announced, 'f1', at(25), at(90))).toEqual(at(25));
      expect(instanceLastAlive(noInstances(), 'f1', at(25), at(90))).toEqual(at(25));
    });
  });
});
