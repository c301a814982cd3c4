/**
 * The DeviceList aggregate: one per account, its version is the device list version.
 * Invariants:
 * - the list starts with the primary device (id 1) when the account is registered; registering
 *   the same account again records nothing;
 * - device ids are never reused within the account: the next id is one more than the highest ever
 *   given, unlinked devices included;
 * - the version only grows: every change is an event;
 * - when the account is deleted every linked device is unlinked; a list with no linked device
 *   records nothing more.
 */
import { assertNever, type Decider } from '@tandem/decider';
import {
  type DeviceListEvent,
  DevicePlatform,
  type UnlinkReason,
} from '@tandem/contracts/events/tandem/linking/v1/events';

export type DeviceListDomainEvent = NonNullable<DeviceListEvent['event']>;

export interface LinkedDevice {
  readonly deviceId: number;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly platform: DevicePlatform;
  readonly primary: boolean;
  readonly linkedAt: Date;
}

export interface DeviceListState {
  readonly accountId: string | undefined;
  readonly devices: ReadonlyMap<number, LinkedDevice>;
  /** The highest device id ever given in this account. */
  readonly highestDeviceId: number;
}

export interface RegisterPrimaryDevice {
  readonly type: 'RegisterPrimaryDevice';
  readonly accountId: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly now: Date;
}

export interface UnlinkAllDevices {
  readonly type: 'UnlinkAllDevices';
  readonly accountId: string;
  readonly reason: UnlinkReason;
  readonly now: Date;
}

export type DeviceListCommand = RegisterPrimaryDevice | UnlinkAllDevices;

function decide(command: DeviceListCommand, state: DeviceListState): DeviceListDomainEvent[] {
  switch (command.type) {
    case 'RegisterPrimaryDevice':
      if (state.highestDeviceId > 0) return [];
      return [
        {
          $case: 'deviceLinked',
          value: {
            accountId: command.accountId,
            deviceId: 1,
            identityKey: Buffer.from(command.identityKey),
            registrationId: command.registrationId,
            name: command.name,
            platform: DevicePlatform.DEVICE_PLATFORM_PHONE,
            primary: true,
            linkedAt: command.now,
          },
        },
      ];
    case 'UnlinkAllDevices':
      return [...state.devices.values()]
        .sort((a, b) => Number(a.primary) - Number(b.primary) || a.deviceId - b.deviceId)
        .map((device) => ({
          $case: 'deviceUnlinked',
          value: {
            accountId: command.accountId,
            deviceId: device.deviceId,
            reason: command.reason,
            unlinkedAt: command.now,
          },
        }));
    default:
      return assertNever(command);
  }
}

function evolve(state: DeviceListState, event: DeviceListDomainEvent): DeviceListState {
  switch (event.$case) {
    case 'deviceLinked': {
      const { value } = event;
      const devices = new Map(state.devices);
      devices.set(value.deviceId, {
        deviceId: value.deviceId,
        identityKey: value.identityKey,
        registrationId: value.registrationId,
        name: value.name,
        platform: value.platform,
        primary: value.primary,
        linkedAt: value.linkedAt ?? new Date(0),
      });
      return {
        accountId: value.accountId,
        devices,
        highestDeviceId: Math.max(state.highestDeviceId, value.deviceId),
      };
    }
    case 'deviceUnlinked': {
      const devices = new Map(state.devices);
      devices.delete(event.value.deviceId);
      return { ...state, devices };
    }
    default:
      return assertNever(event);
  }
}

export const deviceListDecider: Decider<DeviceListCommand, DeviceListDomainEvent, DeviceListState> = {
  decide,
  evolve,
  initialState: () => ({ accountId: undefined, devices: new Map(), highestDeviceId: 0 }),
};

/** The linked devices, primary first, then by id. */
export function linkedDevices(state: DeviceListState): LinkedDevice[] {
  return [...state.devices.values()].sort(
    (a, b) => Number(b.primary) - Number(a.primary) || a.deviceId - b.deviceId,
  );
}
