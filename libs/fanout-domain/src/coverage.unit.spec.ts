import { describe, expect, it } from 'vitest';
import { coverage, isCovered } from './coverage';

const devices = [
  { deviceId: 1, registrationId: 11 },
  { deviceId: 2, registrationId: 22 },
  { deviceId: 4, registrationId: 44 },
];

describe('coverage', () => {
  it('is complete when every expected device has one envelope for its registration id', () => {
    const result = coverage(devices, [
      { deviceId: 4, registrationId: 44 },
      { deviceId: 1, registrationId: 11 },
      { deviceId: 2, registrationId: 22 },
    ]);
    expect(result).toEqual({ missing: [], extra: [], stale: [] });
    expect(isCovered(result)).toBe(true);
  });

  it('names expected devices without an envelope as missing', () => {
    const result = coverage(devices, [{ deviceId: 2, registrationId: 22 }]);
    expect(result).toEqual({ missing: [1, 4], extra: [], stale: [] });
    expect(isCovered(result)).toBe(false);
  });

  it('names envelopes for devices not expected as extra', () => {
    expect(coverage(devices, [...devices, { deviceId: 3, registrationId: 33 }])).toEqual({
      missing: [],
      extra: [3],
      stale: [],
    });
  });

  it('names devices whose envelope has another registration id as stale, not missing', () => {
    expect(
      coverage(devices, [
        { deviceId: 1, registrationId: 11 },
        { deviceId: 2, registrationId: 23 },
        { deviceId: 4, registrationId: 44 },
      ]),
    ).toEqual({ missing: [], extra: [], stale: [2] });
  });

  it('names missing, extra and stale devices at once, each ascending', () => {
    expect(
      coverage(devices, [
        { deviceId: 9, registrationId: 99 },
        { deviceId: 4, registrationId: 40 },
        { deviceId: 7, registrationId: 77 },
      ]),
    ).toEqual({ missing: [1, 2], extra: [7, 9], stale: [4] });
  });

  it('is complete for no devices and no envelopes', () => {
    expect(isCovered(coverage([], []))).toBe(true);
  });
});
