import { DevicePlatform, UnlinkReason } from '@tandem/contracts/events/tandem/linking/v1/events';
import { fold } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import {
  type DeviceListDomainEvent,
  deviceListDecider,
  linkedDevices,
  type RegisterPrimaryDevice,
} from './device-list.decider';

const spec = deciderSpecification(deviceListDecider);
const now = new Date('2026-11-25T10:00:00Z');
const accountId = 'a1';
const key = (fill: number) => Buffer.alloc(32, fill);

const registerPrimary: RegisterPrimaryDevice = {
  type: 'RegisterPrimaryDevice',
  accountId,
  identityKey: key(1),
  registrationId: 7,
  name: 'Pixel',
  now,
};

const linked = (deviceId: number, primary: boolean): DeviceListDomainEvent => ({
  $case: 'deviceLinked',
  value: {
    accountId,
    deviceId,
    identityKey: key(deviceId),
    registrationId: 7,
    name: primary ? 'Pixel' : `Companion ${deviceId}`,
    platform: primary ? DevicePlatform.DEVICE_PLATFORM_PHONE : DevicePlatform.DEVICE_PLATFORM_DESKTOP,
    primary,
    linkedAt: now,
  },
});

const unlinked = (deviceId: number, reason: UnlinkReason): DeviceListDomainEvent => ({
  $case: 'deviceUnlinked',
  value: { accountId, deviceId, reason, unlinkedAt: now },
});

describe('the device list decider', () => {
  describe('when the account is registered', () => {
    it('links the primary as device 1', () => {
      spec
        .given([])
        .when(registerPrimary)
        .then([linked(1, true)]);
    });

    it('records nothing when the registration is delivered again', () => {
      spec
        .given([linked(1, true)])
        .when(registerPrimary)
        .thenNothingHappens();
    });

    it('records nothing for a list whose devices were all unlinked', () => {
      spec
        .given([linked(1, true), unlinked(1, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED)])
        .when(registerPrimary)
        .thenNothingHappens();
    });
  });

  describe('when the account is deleted', () => {
    const deleteAll = {
      type: 'UnlinkAllDevices' as const,
      accountId,
      reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED,
      now,
    };

    it('unlinks every companion, then the primary', () => {
      spec
        .given([linked(1, true), linked(2, false), linked(3, false)])
        .when(deleteAll)
        .then([
          unlinked(2, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED),
          unlinked(3, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED),
          unlinked(1, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED),
        ]);
    });

    it('records nothing when no device is linked', () => {
      spec
        .given([linked(1, true), unlinked(1, UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED)])
        .when(deleteAll)
        .thenNothingHappens();
    });
  });

  describe('when the list is folded', () => {
    it('keeps the highest device id ever given, so ids are never reused', () => {
      const state = fold(deviceListDecider, [
        linked(1, true),
        linked(2, false),
        unlinked(2, UnlinkReason.UNLINK_REASON_BY_SELF),
      ]);
      expect(state.highestDeviceId).toBe(2);
      expect(linkedDevices(state).map((device) => device.deviceId)).toEqual([1]);
    });

    it('lists the primary first, then companions by id', () => {
      const state = fold(deviceListDecider, [linked(3, false), linked(1, true), linked(2, false)]);
      expect(linkedDevices(state).map((device) => device.deviceId)).toEqual([1, 2, 3]);
    });
  });
});
