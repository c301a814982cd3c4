/**
 * The DeviceList aggregate: one per account.
 * Invariants:
 * - the list starts with the primary device (id 1) when the account is registered; registering
 *   the same account again records nothing;
 * - a list has one primary and at most `maxCompanions` (4) companion devices;
 * - device ids are never reused within the account: a new device gets one more than the highest
 *   id ever given, unlinked devices included;
 * - the list version grows by one with every device linked or unlinked, and never otherwise;
 * - only the primary approves links and unlinks other devices, each time signing the new list
 *   (account id, new version, every device id and identity key) with its identity key; a link or
 *   unlink with a signature for another version or another list is refused and records nothing;
 * - a companion may unlink and rename itself; the primary cannot unlink itself;
 * - one link session links at most one device, once;
 * - registering the phone number on a new phone unlinks every device and links the new primary;
 * - when the primary has been inactive for the threshold, its companions are unlinked;
 * - when the account is deleted every linked device is unlinked.
 */
import {
  assertNever,
  type Decider,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  validateDeviceName,
} from '@tandem/decider';
import { type DeviceListEvent, UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { deviceListContent, type ListedDevice, verifyEd25519 } from './device-list-content';

export type DeviceListDomainEvent = NonNullable<DeviceListEvent['event']>;

export const MAX_COMPANIONS = 4;

export interface LinkedDevice {
  readonly deviceId: number;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly platform: DevicePlatform;
  readonly primary: boolean;
  readonly linkedAt: Date;
  readonly linkSessionId: string;
}

export interface DeviceListState {
  readonly accountId: string | undefined;
  /** The linked devices by id. */
  readonly devices: ReadonlyMap<number, LinkedDevice>;
  /** The highest device id ever given in this account. */
  readonly highestDeviceId: number;
  readonly listVersion: number;
  /** The primary's latest signature, when it is for the current list version. */
  readonly signature: { readonly listVersion: number; readonly value: Uint8Array } | undefined;
  /** Link session id -> the device id it linked. */
  readonly linkedSessions: ReadonlyMap<string, number>;
}

/** The device that sends a command, as its token and the device directory say. */
export interface Actor {
  readonly deviceId: number;
  readonly primary: boolean;
}

export interface RegisterPrimaryDevice {
  readonly type: 'RegisterPrimaryDevice';
  readonly accountId: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly now: Date;
}

/** The phone number was registered again on a new phone. */
export interface ReplacePrimaryDevice extends Omit<RegisterPrimaryDevice, 'type'> {
  readonly type: 'ReplacePrimaryDevice';
}

export interface LinkCompanion {
  readonly type: 'LinkCompanion';
  readonly session: {
    readonly sessionId: string;
    readonly identityKey: Uint8Array;
    readonly registrationId: number;
    readonly name: string;
    readonly platform: DevicePlatform;
  };
  readonly by: Actor;
  readonly listVersion: number;
  readonly listSignature: Uint8Array;
  readonly maxCompanions: number;
  readonly now: Date;
}

export interface UnlinkDevice {
  readonly type: 'UnlinkDevice';
  readonly deviceId: number;
  readonly by: Actor;
  /** Required when the primary unlinks another device. */
  readonly listVersion: number;
  readonly listSignature: Uint8Array;
  readonly now: Date;
}

export interface UnlinkCompanionsOfInactivePrimary {
  readonly type: 'UnlinkCompanionsOfInactivePrimary';
  /** When the primary was last active (signed in or used the linking service). */
  readonly primaryLastActiveAt: Date;
  readonly inactivityMs: number;
  readonly now: Date;
}

export interface UnlinkAllDevices {
  readonly type: 'UnlinkAllDevices';
  readonly accountId: string;
  readonly reason: UnlinkReason;
  readonly now: Date;
}

export interface RenameDevice {
  readonly type: 'RenameDevice';
  readonly deviceId: number;
  readonly name: string;
  readonly by: Actor;
}

export interface SignDeviceList {
  readonly type: 'SignDeviceList';
  readonly listVersion: number;
  readonly listSignature: Uint8Array;
  readonly by: Actor;
}

export type DeviceListCommand =
  | RegisterPrimaryDevice
  | ReplacePrimaryDevice
  | LinkCompanion
  | UnlinkDevice
  | UnlinkCompanionsOfInactivePrimary
  | UnlinkAllDevices
  | RenameDevice
  | SignDeviceList;

const listed = (state: DeviceListState): ListedDevice[] => [...state.devices.values()];

export function primaryOf(state: DeviceListState): LinkedDevice | undefined {
  return [...state.devices.values()].find((device) => device.primary);
}

const companionsOf = (state: DeviceListState): LinkedDevice[] =>
  [...state.devices.values()].filter((device) => !device.primary);

/** Checks the primary's signature over the list the command would produce. */
function requireSignedBy(
  state: DeviceListState,
  listVersion: number,
  devices: readonly ListedDevice[],
  signature: Uint8Array,
): void {
  const primary = primaryOf(state);
  if (!primary) throw failedPrecondition('the account has no primary device');
  if (
    !verifyEd25519(
      primary.identityKey,
      deviceListContent(state.accountId ?? '', listVersion, devices),
      signature,
    )
  ) {
    throw permissionDenied(
      'list_signature does not verify with the primary identity key over the new device list',
    );
  }
}

function requireNextVersion(state: DeviceListState, listVersion: number): void {
  if (listVersion !== state.listVersion + 1) {
    throw failedPrecondition(
      `the device list is at version ${state.listVersion}: sign version ${state.listVersion + 1} of the current list`,
      { currentListVersion: state.listVersion },
    );
  }
}

function primaryLinked(
  accountId: string,
  deviceId: number,
  command: RegisterPrimaryDevice | ReplacePrimaryDevice,
  listVersion: number,
): DeviceListDomainEvent {
  return {
    $case: 'deviceLinked',
    value: {
      accountId,
      deviceId,
      identityKey: Buffer.from(command.identityKey),
      registrationId: command.registrationId,
      name: command.name,
      platform: DevicePlatform.DEVICE_PLATFORM_PHONE,
      primary: true,
      linkedAt: command.now,
      listVersion,
      linkSessionId: '',
      listSignature: Buffer.alloc(0),
      byDeviceId: 0,
    },
  };
}

function unlinked(
  state: DeviceListState,
  devices: readonly LinkedDevice[],
  reason: UnlinkReason,
  now: Date,
  byDeviceId = 0,
): DeviceListDomainEvent[] {
  return devices.map((device, index) => ({
    $case: 'deviceUnlinked',
    value: {
      accountId: state.accountId ?? '',
      deviceId: device.deviceId,
      reason,
      unlinkedAt: now,
      listVersion: state.listVersion + index + 1,
      listSignature: Buffer.alloc(0),
      byDeviceId,
    },
  }));
}

/** Companions first by id, then the primary: the order in which a whole list is unlinked. */
const unlinkOrder = (devices: Iterable<LinkedDevice>): LinkedDevice[] =>
  [...devices].sort((a, b) => Number(a.primary) - Number(b.primary) || a.deviceId - b.deviceId);

function decide(command: DeviceListCommand, state: DeviceListState): DeviceListDomainEvent[] {
  switch (command.type) {
    case 'RegisterPrimaryDevice':
      if (state.highestDeviceId > 0) return [];
      return [primaryLinked(command.accountId, 1, command, 1)];
    case 'ReplacePrimaryDevice': {
      if (state.highestDeviceId === 0) return [primaryLinked(command.accountId, 1, command, 1)];
      const current = primaryOf(state);
      if (current && Buffer.from(current.identityKey).equals(Buffer.from(command.identityKey))) return [];
      const gone = unlinked(
        state,
        unlinkOrder(state.devices.values()),
        UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
        command.now,
      );
      return [
        ...gone,
        primaryLinked(
          command.accountId,
          state.highestDeviceId + 1,
          command,
          state.listVersion + gone.length + 1,
        ),
      ];
    }
    case 'LinkCompanion': {
      const { session, by } = command;
      const already = state.linkedSessions.get(session.sessionId);
      if (already !== undefined) return [];
      if (!by.primary) throw permissionDenied('only the primary device may approve a link');
      if (companionsOf(state).length >= command.maxCompanions) {
        throw failedPrecondition(
          `the account already has ${command.maxCompanions} linked companion devices, the most it may have; unlink one first`,
          { maxCompanions: command.maxCompanions },
        );
      }
      if (
        [...state.devices.values()].some((device) =>
          Buffer.from(device.identityKey).equals(Buffer.from(session.identityKey)),
        )
      ) {
        throw failedPrecondition('a device with this identity key is already linked');
      }
      requireNextVersion(state, command.listVersion);
      const deviceId = state.highestDeviceId + 1;
      requireSignedBy(
        state,
        command.listVersion,
        [...listed(state), { deviceId, identityKey: session.identityKey }],
        command.listSignature,
      );
      return [
        {
          $case: 'deviceLinked',
          value: {
            accountId: state.accountId ?? '',
            deviceId,
            identityKey: Buffer.from(session.identityKey),
            registrationId: session.registrationId,
            name: session.name,
            platform: session.platform,
            primary: false,
            linkedAt: command.now,
            listVersion: command.listVersion,
            linkSessionId: session.sessionId,
            listSignature: Buffer.from(command.listSignature),
            byDeviceId: by.deviceId,
          },
        },
      ];
    }
    case 'UnlinkDevice': {
      const device = state.devices.get(command.deviceId);
      if (!device) throw notFound(`device ${command.deviceId} is not linked`);
      const { by } = command;
      if (by.primary) {
        if (device.primary) {
          throw failedPrecondition(
            'the primary device cannot unlink itself; delete the account or register a new phone',
          );
        }
        requireNextVersion(state, command.listVersion);
        requireSignedBy(
          state,
          command.listVersion,
          listed(state).filter((entry) => entry.deviceId !== device.deviceId),
          command.listSignature,
        );
        return [
          {
            $case: 'deviceUnlinked',
            value: {
              accountId: state.accountId ?? '',
              deviceId: device.deviceId,
              reason: UnlinkReason.UNLINK_REASON_BY_PRIMARY,
              unlinkedAt: command.now,
              listVersion: command.listVersion,
              listSignature: Buffer.from(command.listSignature),
              byDeviceId: by.deviceId,
            },
          },
        ];
      }
      if (by.deviceId !== device.deviceId)
        throw permissionDenied('a companion device may only unlink itself');
      return unlinked(state, [device], UnlinkReason.UNLINK_REASON_BY_SELF, command.now, by.deviceId);
    }
    case 'UnlinkCompanionsOfInactivePrimary':
      if (command.now.getTime() - command.primaryLastActiveAt.getTime() < command.inactivityMs) return [];
      return unlinked(
        state,
        unlinkOrder(companionsOf(state)),
        UnlinkReason.UNLINK_REASON_PRIMARY_INACTIVE,
        command.now,
      );
    case 'UnlinkAllDevices':
      return unlinked(state, unlinkOrder(state.devices.values()), command.reason, command.now);
    case 'RenameDevice': {
      const device = state.devices.get(command.deviceId);
      if (!device) throw notFound(`device ${command.deviceId} is not linked`);
      if (!command.by.primary && command.by.deviceId !== device.deviceId) {
        throw permissionDenied('a companion device may only rename itself');
      }
      const name = validateDeviceName(command.name, '', 'name');
      if (name === '') throw invalidArgument('name', 'must not be empty');
      if (name === device.name) return [];
      return [
        {
          $case: 'deviceRenamed',
          value: {
            accountId: state.accountId ?? '',
            deviceId: device.deviceId,
            name,
            byDeviceId: command.by.deviceId,
          },
        },
      ];
    }
    case 'SignDeviceList': {
      if (!command.by.primary) throw permissionDenied('only the primary device signs the device list');
      if (command.listVersion !== state.listVersion) {
        throw failedPrecondition(`the device list is at version ${state.listVersion}: sign that version`, {
          currentListVersion: state.listVersion,
        });
      }
      if (state.signature && Buffer.from(state.signature.value).equals(Buffer.from(command.listSignature)))
        return [];
      requireSignedBy(state, command.listVersion, listed(state), command.listSignature);
      return [
        {
          $case: 'deviceListSigned',
          value: {
            accountId: state.accountId ?? '',
            listVersion: command.listVersion,
            listSignature: Buffer.from(command.listSignature),
          },
        },
      ];
    }
    default:
      return assertNever(command);
  }
}

function evolve(state: DeviceListState, event: DeviceListDomainEvent): DeviceListState {
  switch (event.$case) {
    case 'deviceLinked': {
      const { value } = event;
      const listVersion = value.listVersion || state.listVersion + 1;
      const devices = new Map(state.devices);
      devices.set(value.deviceId, {
        deviceId: value.deviceId,
        identityKey: value.identityKey,
        registrationId: value.registrationId,
        name: value.name,
        platform: value.platform,
        primary: value.primary,
        linkedAt: value.linkedAt ?? new Date(0),
        linkSessionId: value.linkSessionId,
      });
      const linkedSessions = new Map(state.linkedSessions);
      if (value.linkSessionId) linkedSessions.set(value.linkSessionId, value.deviceId);
      return {
        accountId: value.accountId,
        devices,
        highestDeviceId: Math.max(state.highestDeviceId, value.deviceId),
        listVersion,
        signature: value.listSignature.length > 0 ? { listVersion, value: value.listSignature } : undefined,
        linkedSessions,
      };
    }
    case 'deviceUnlinked': {
      const { value } = event;
      const listVersion = value.listVersion || state.listVersion + 1;
      const devices = new Map(state.devices);
      devices.delete(value.deviceId);
      return {
        ...state,
        devices,
        listVersion,
        signature: value.listSignature.length > 0 ? { listVersion, value: value.listSignature } : undefined,
      };
    }
    case 'deviceListSigned':
      return {
        ...state,
        signature: { listVersion: event.value.listVersion, value: event.value.listSignature },
      };
    case 'deviceRenamed': {
      const device = state.devices.get(event.value.deviceId);
      if (!device) return state;
      const devices = new Map(state.devices);
      devices.set(device.deviceId, { ...device, name: event.value.name });
      return { ...state, devices };
    }
    case 'linkSessionStarted':
    case 'linkSessionApproved':
    case 'linkSessionExpired':
      return state;
    default:
      return assertNever(event);
  }
}

export const deviceListDecider: Decider<DeviceListCommand, DeviceListDomainEvent, DeviceListState> = {
  decide,
  evolve,
  initialState: () => ({
    accountId: undefined,
    devices: new Map(),
    highestDeviceId: 0,
    listVersion: 0,
    signature: undefined,
    linkedSessions: new Map(),
  }),
};

/** The linked devices, primary first, then by id. */
export function linkedDevices(state: DeviceListState): LinkedDevice[] {
  return [...state.devices.values()].sort(
    (a, b) => Number(b.primary) - Number(a.primary) || a.deviceId - b.deviceId,
  );
}

/** The content the primary signs for the current list. */
export const currentListContent = (state: DeviceListState): Uint8Array =>
  deviceListContent(state.accountId ?? '', state.listVersion, listed(state));
