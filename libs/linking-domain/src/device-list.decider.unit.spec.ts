import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { DeviceListContent, DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { UnlinkReason } from '@tandem/contracts/tandem/linking/v1/events';
import { type DomainError, fold, isDomainError } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import { deviceListContent, deviceListHash, type ListedDevice, verifyEd25519 } from './device-list-content';
import {
  type Actor,
  currentListContent,
  type DeviceListCommand,
  type DeviceListDomainEvent,
  deviceListDecider,
  type LinkCompanion,
  linkedDevices,
  MAX_COMPANIONS,
  primaryOf,
  type RegisterPrimaryDevice,
  type ReplacePrimaryDevice,
  type UnlinkDevice,
} from './device-list.decider';

const spec = deciderSpecification(deviceListDecider);

const accountId = 'account-1';
const registeredAt = new Date('2026-11-25T10:00:00.000Z');
const now = new Date('2026-11-25T12:00:00.000Z');

/** A device's Ed25519 key pair; the identity key is the raw 32-byte public key, as clients send it. */
interface Identity {
  readonly identityKey: Buffer;
  readonly privateKey: KeyObject;
}

function newIdentity(): Identity {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const { x } = publicKey.export({ format: 'jwk' });
  return { identityKey: Buffer.from(x ?? '', 'base64url'), privateKey };
}

const phone = newIdentity();
const newPhone = newIdentity();
const desktop = newIdentity();
const laptop = newIdentity();
const browser = newIdentity();
const tablet = newIdentity();
const spare = newIdentity();
const another = newIdentity();

/** The primary's signature over a device list, exactly as a client computes it. */
const signList = (
  signer: Identity,
  listVersion: number,
  devices: readonly ListedDevice[],
  account = accountId,
): Buffer => sign(null, deviceListContent(account, listVersion, devices), signer.privateKey);

const entry = (deviceId: number, identity: Identity): ListedDevice => ({
  deviceId,
  identityKey: identity.identityKey,
});

const primaryActor: Actor = { deviceId: 1, primary: true };
const companionActor = (deviceId: number): Actor => ({ deviceId, primary: false });

// Events, as the decider records them.

function primaryLinked(deviceId: number, identity: Identity, listVersion: number): DeviceListDomainEvent {
  return {
    $case: 'deviceLinked',
    value: {
      accountId,
      deviceId,
      identityKey: identity.identityKey,
      registrationId: 7,
      name: 'Pixel',
      platform: DevicePlatform.DEVICE_PLATFORM_PHONE,
      primary: true,
      linkedAt: registeredAt,
      listVersion,
      linkSessionId: '',
      listSignature: Buffer.alloc(0),
      byDeviceId: 0,
    },
  };
}

function companionLinked(link: {
  deviceId: number;
  identity: Identity;
  listVersion: number;
  listSignature: Uint8Array;
  sessionId?: string;
  byDeviceId?: number;
  linkedAt?: Date;
}): DeviceListDomainEvent {
  return {
    $case: 'deviceLinked',
    value: {
      accountId,
      deviceId: link.deviceId,
      identityKey: link.identity.identityKey,
      registrationId: 100 + link.deviceId,
      name: `Companion ${link.deviceId}`,
      platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
      primary: false,
      linkedAt: link.linkedAt ?? now,
      listVersion: link.listVersion,
      linkSessionId: link.sessionId ?? `session-${link.deviceId}`,
      listSignature: Buffer.from(link.listSignature),
      byDeviceId: link.byDeviceId ?? 1,
    },
  };
}

function deviceUnlinked(unlink: {
  deviceId: number;
  reason: UnlinkReason;
  listVersion: number;
  listSignature?: Buffer;
  byDeviceId?: number;
  unlinkedAt?: Date;
}): DeviceListDomainEvent {
  return {
    $case: 'deviceUnlinked',
    value: {
      accountId,
      deviceId: unlink.deviceId,
      reason: unlink.reason,
      unlinkedAt: unlink.unlinkedAt ?? now,
      listVersion: unlink.listVersion,
      listSignature: unlink.listSignature ?? Buffer.alloc(0),
      byDeviceId: unlink.byDeviceId ?? 0,
    },
  };
}

/**
 * Builds an account's device-list history the way the decider records it (versions, ids and real
 * signatures by the current primary), so each test states only the steps it is about.
 */
function history() {
  const events: DeviceListDomainEvent[] = [];
  const devices = new Map<number, Identity>();
  let primary = phone;
  let listVersion = 0;
  let highestDeviceId = 0;
  const listed = (): ListedDevice[] => [...devices].map(([deviceId, identity]) => entry(deviceId, identity));

  const builder = {
    events,
    get listVersion() {
      return listVersion;
    },
    get highestDeviceId() {
      return highestDeviceId;
    },
    /** The devices the next list will have: the current ones plus `added`, minus `removed`. */
    nextList(change: { added?: ListedDevice; removed?: number } = {}): ListedDevice[] {
      const next = listed().filter((device) => device.deviceId !== change.removed);
      return change.added ? [...next, change.added] : next;
    },
    registered(identity: Identity = phone) {
      primary = identity;
      highestDeviceId = 1;
      listVersion = 1;
      devices.set(1, identity);
      events.push(primaryLinked(1, identity, 1));
      return builder;
    },
    linked(identity: Identity, sessionId?: string) {
      const deviceId = ++highestDeviceId;
      listVersion += 1;
      devices.set(deviceId, identity);
      events.push(
        companionLinked({
          deviceId,
          identity,
          listVersion,
          listSignature: signList(primary, listVersion, listed()),
          ...(sessionId === undefined ? {} : { sessionId }),
        }),
      );
      return builder;
    },
    unlinkedByPrimary(deviceId: number) {
      listVersion += 1;
      devices.delete(deviceId);
      events.push(
        deviceUnlinked({
          deviceId,
          reason: UnlinkReason.UNLINK_REASON_BY_PRIMARY,
          listVersion,
          listSignature: signList(primary, listVersion, listed()),
          byDeviceId: 1,
        }),
      );
      return builder;
    },
    unlinkedBySelf(deviceId: number) {
      listVersion += 1;
      devices.delete(deviceId);
      events.push(
        deviceUnlinked({
          deviceId,
          reason: UnlinkReason.UNLINK_REASON_BY_SELF,
          listVersion,
          byDeviceId: deviceId,
        }),
      );
      return builder;
    },
    signed() {
      events.push({
        $case: 'deviceListSigned',
        value: { accountId, listVersion, listSignature: signList(primary, listVersion, listed()) },
      });
      return builder;
    },
    renamed(deviceId: number, name: string, byDeviceId = deviceId) {
      events.push({ $case: 'deviceRenamed', value: { accountId, deviceId, name, byDeviceId } });
      return builder;
    },
  };
  return builder;
}

// Commands.

const registerPrimary: RegisterPrimaryDevice = {
  type: 'RegisterPrimaryDevice',
  accountId,
  identityKey: phone.identityKey,
  registrationId: 7,
  name: 'Pixel',
  now: registeredAt,
};

const replacePrimary = (identity: Identity): ReplacePrimaryDevice => ({
  type: 'ReplacePrimaryDevice',
  accountId,
  identityKey: identity.identityKey,
  registrationId: 7,
  name: 'Pixel',
  now: registeredAt,
});

function linkCompanion(link: {
  deviceId: number;
  identity: Identity;
  listVersion: number;
  listSignature: Buffer;
  sessionId?: string;
  by?: Actor;
  maxCompanions?: number;
}): LinkCompanion {
  return {
    type: 'LinkCompanion',
    session: {
      sessionId: link.sessionId ?? `session-${link.deviceId}`,
      identityKey: link.identity.identityKey,
      registrationId: 100 + link.deviceId,
      name: `Companion ${link.deviceId}`,
      platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
    },
    by: link.by ?? primaryActor,
    listVersion: link.listVersion,
    listSignature: link.listSignature,
    maxCompanions: link.maxCompanions ?? MAX_COMPANIONS,
    now,
  };
}

/** Links `identity` as the next device of `given`, signed by the phone over the right next list. */
function linkNext(given: ReturnType<typeof history>, identity: Identity, sessionId?: string): LinkCompanion {
  const deviceId = given.highestDeviceId + 1;
  const listVersion = given.listVersion + 1;
  return linkCompanion({
    deviceId,
    identity,
    listVersion,
    listSignature: signList(phone, listVersion, given.nextList({ added: entry(deviceId, identity) })),
    ...(sessionId === undefined ? {} : { sessionId }),
  });
}

const unlinkDevice = (
  deviceId: number,
  by: Actor,
  signed: { listVersion: number; listSignature: Buffer } = { listVersion: 0, listSignature: Buffer.alloc(0) },
): UnlinkDevice => ({ type: 'UnlinkDevice', deviceId, by, ...signed, now });

const refusal = (run: () => unknown): DomainError => {
  try {
    run();
  } catch (error) {
    if (isDomainError(error)) return error;
    throw error;
  }
  throw new Error('expected the command to be refused');
};

const stateOf = (events: readonly DeviceListDomainEvent[]) => fold(deviceListDecider, events);

describe('the device list decider', () => {
  describe('when the account is registered', () => {
    it('links the primary as device 1 at list version 1, unsigned and approved by no device', () => {
      spec
        .given([])
        .when(registerPrimary)
        .then([primaryLinked(1, phone, 1)]);
    });

    it('records nothing when the registration is delivered again', () => {
      spec.given(history().registered().events).when(registerPrimary).thenNothingHappens();
    });

    it('records nothing, even with another key, once any device id was given', () => {
      spec
        .given(
          history()
            .registered()
            .events.concat(
              deviceUnlinked({
                deviceId: 1,
                reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED,
                listVersion: 2,
              }),
            ),
        )
        .when({ ...registerPrimary, identityKey: newPhone.identityKey })
        .thenNothingHappens();
    });
  });

  describe('when the primary approves a link', () => {
    it('links the companion as device 2 at list version 2, with the session, signature and approver', () => {
      const listSignature = signList(phone, 2, [entry(1, phone), entry(2, desktop)]);
      spec
        .given(history().registered().events)
        .when(linkCompanion({ deviceId: 2, identity: desktop, listVersion: 2, listSignature }))
        .then([
          companionLinked({
            deviceId: 2,
            identity: desktop,
            listVersion: 2,
            listSignature,
            sessionId: 'session-2',
            byDeviceId: 1,
          }),
        ]);
    });

    it('records nothing when the same link session is approved again', () => {
      const given = history().registered().linked(desktop, 'session-qr');
      spec
        .given(given.events)
        .when(linkNext(given, laptop, 'session-qr'))
        .thenNothingHappens();
    });

    it('records nothing when the session is approved again after its device was unlinked', () => {
      const given = history().registered().linked(desktop, 'session-qr').unlinkedBySelf(2);
      spec
        .given(given.events)
        .when(linkNext(given, desktop, 'session-qr'))
        .thenNothingHappens();
    });

    it('refuses a companion approving a link', () => {
      const given = history().registered().linked(desktop);
      spec
        .given(given.events)
        .when({ ...linkNext(given, laptop), by: companionActor(2) })
        .thenThrows('permission-denied', /only the primary/);
    });

    it('refuses a device whose identity key is already linked as a companion', () => {
      const given = history().registered().linked(desktop);
      spec
        .given(given.events)
        .when(linkNext(given, desktop, 'session-other'))
        .thenThrows('failed-precondition', /identity key is already linked/);
    });

    it("refuses a companion with the primary's identity key", () => {
      const given = history().registered();
      spec
        .given(given.events)
        .when(linkNext(given, phone))
        .thenThrows('failed-precondition', /identity key is already linked/);
    });

    it.each([
      ['the current version', 2],
      ['a version two ahead', 4],
      ['version 0', 0],
    ])('refuses a signature for %s, naming the version to sign', (_, listVersion) => {
      const given = history().registered().linked(desktop);
      const command = linkCompanion({
        deviceId: 3,
        identity: laptop,
        listVersion,
        listSignature: signList(phone, listVersion, given.nextList({ added: entry(3, laptop) })),
      });
      spec
        .given(given.events)
        .when(command)
        .thenThrows('failed-precondition', /at version 2: sign version 3/);
      expect(refusal(() => deviceListDecider.decide(command, stateOf(given.events))).details).toEqual({
        currentListVersion: 2,
      });
    });

    const withoutNewDevice = (): Buffer => signList(phone, 3, [entry(1, phone), entry(2, desktop)]);
    it.each<[string, () => Buffer]>([
      [
        'signed by the companion instead of the primary',
        () => signList(laptop, 3, [entry(1, phone), entry(2, desktop), entry(3, laptop)]),
      ],
      ['over the list without the new device', withoutNewDevice],
      [
        'over the list for another account',
        () => signList(phone, 3, [entry(1, phone), entry(2, desktop), entry(3, laptop)], 'account-2'),
      ],
      [
        'over another version of the list',
        () => signList(phone, 4, [entry(1, phone), entry(2, desktop), entry(3, laptop)]),
      ],
      [
        'over the list with another identity key for the new device',
        () => signList(phone, 3, [entry(1, phone), entry(2, desktop), entry(3, another)]),
      ],
      [
        'over the list giving the new device another id',
        () => signList(phone, 3, [entry(1, phone), entry(2, desktop), entry(4, laptop)]),
      ],
      [
        'over the list without an existing companion',
        () => signList(phone, 3, [entry(1, phone), entry(3, laptop)]),
      ],
      ['truncated', () => withoutNewDevice().subarray(0, 63)],
      ['empty', () => Buffer.alloc(0)],
      ['64 zero bytes', () => Buffer.alloc(64)],
    ])('refuses a signature %s', (_, listSignature) => {
      const given = history().registered().linked(desktop);
      spec
        .given(given.events)
        .when(
          linkCompanion({ deviceId: 3, identity: laptop, listVersion: 3, listSignature: listSignature() }),
        )
        .thenThrows('permission-denied', /list_signature does not verify/);
    });
  });

  describe('when the account already has four companions', () => {
    const full = () => history().registered().linked(desktop).linked(laptop).linked(browser).linked(tablet);

    it('links a fourth companion', () => {
      const given = history().registered().linked(desktop).linked(laptop).linked(browser);
      const command = linkNext(given, tablet);
      spec
        .given(given.events)
        .when(command)
        .then([
          companionLinked({
            deviceId: 5,
            identity: tablet,
            listVersion: 5,
            listSignature: command.listSignature,
          }),
        ]);
    });

    it('refuses a fifth, naming the limit', () => {
      const given = full();
      const command = linkNext(given, spare);
      spec
        .given(given.events)
        .when(command)
        .thenThrows('failed-precondition', /already has 4 linked companion/);
      expect(refusal(() => deviceListDecider.decide(command, stateOf(given.events))).details).toEqual({
        maxCompanions: 4,
      });
    });

    it('uses the configured limit', () => {
      const given = history().registered().linked(desktop).linked(laptop);
      spec
        .given(given.events)
        .when({ ...linkNext(given, browser), maxCompanions: 2 })
        .thenThrows('failed-precondition', /already has 2 linked companion/);
    });

    it('links a companion again into a slot freed by an unlink, with a new device id', () => {
      const given = full().unlinkedBySelf(3);
      const command = linkNext(given, spare);
      expect(command.listVersion).toBe(7);
      spec
        .given(given.events)
        .when(command)
        .then([
          companionLinked({
            deviceId: 6,
            identity: spare,
            listVersion: 7,
            listSignature: command.listSignature,
          }),
        ]);
    });
  });

  describe('device ids', () => {
    it('never gives an unlinked device id again', () => {
      const given = history().registered().linked(desktop).unlinkedByPrimary(2);
      const command = linkNext(given, desktop);
      expect(command.session.sessionId).toBe('session-3');
      spec
        .given(given.events)
        .when(command)
        .then([
          companionLinked({
            deviceId: 3,
            identity: desktop,
            listVersion: 4,
            listSignature: command.listSignature,
          }),
        ]);
    });

    it('gives one more than the highest id ever given, when the highest ones were unlinked', () => {
      const given = history()
        .registered()
        .linked(desktop)
        .linked(laptop)
        .linked(browser)
        .unlinkedBySelf(4)
        .unlinkedByPrimary(3);
      expect(stateOf(given.events).highestDeviceId).toBe(4);
      const command = linkNext(given, tablet);
      spec
        .given(given.events)
        .when(command)
        .then([
          companionLinked({
            deviceId: 5,
            identity: tablet,
            listVersion: 7,
            listSignature: command.listSignature,
          }),
        ]);
    });

    it('refuses a signature over a list that reuses an unlinked id', () => {
      const given = history().registered().linked(desktop).unlinkedBySelf(2);
      spec
        .given(given.events)
        .when(
          linkCompanion({
            deviceId: 3,
            identity: laptop,
            listVersion: 4,
            listSignature: signList(phone, 4, [entry(1, phone), entry(2, laptop)]),
          }),
        )
        .thenThrows('permission-denied', /list_signature/);
    });
  });

  describe('the list version', () => {
    it('grows by exactly one with every link and unlink, and not with a rename or a signature', () => {
      const given = history().registered();
      const versions: number[] = [];
      const record = () => versions.push(stateOf(given.events).listVersion);
      record();
      given.linked(desktop);
      record();
      given.linked(laptop);
      record();
      given.renamed(2, 'Work laptop');
      record();
      given.unlinkedBySelf(3);
      record();
      given.signed();
      record();
      given.unlinkedByPrimary(2);
      record();
      expect(versions).toEqual([1, 2, 3, 3, 4, 4, 5]);
    });

    it('takes the version each event carries', () => {
      const state = stateOf([
        primaryLinked(1, phone, 1),
        companionLinked({
          deviceId: 2,
          identity: desktop,
          listVersion: 9,
          listSignature: Buffer.alloc(64, 1),
        }),
      ]);
      expect(state.listVersion).toBe(9);
    });
  });

  describe('when the primary unlinks a companion', () => {
    it('unlinks it at the next version, by the primary, carrying the signature over the list without it', () => {
      const given = history().registered().linked(desktop).linked(laptop);
      const listSignature = signList(phone, 4, [entry(1, phone), entry(3, laptop)]);
      spec
        .given(given.events)
        .when(unlinkDevice(2, primaryActor, { listVersion: 4, listSignature }))
        .then([
          deviceUnlinked({
            deviceId: 2,
            reason: UnlinkReason.UNLINK_REASON_BY_PRIMARY,
            listVersion: 4,
            listSignature,
            byDeviceId: 1,
          }),
        ]);
    });

    it('refuses a signature over the list that still has the device', () => {
      const given = history().registered().linked(desktop);
      spec
        .given(given.events)
        .when(
          unlinkDevice(2, primaryActor, {
            listVersion: 3,
            listSignature: signList(phone, 3, [entry(1, phone), entry(2, desktop)]),
          }),
        )
        .thenThrows('permission-denied', /list_signature does not verify/);
    });

    it('refuses a signature by another key over the right list', () => {
      const given = history().registered().linked(desktop);
      spec
        .given(given.events)
        .when(
          unlinkDevice(2, primaryActor, {
            listVersion: 3,
            listSignature: signList(desktop, 3, [entry(1, phone)]),
          }),
        )
        .thenThrows('permission-denied', /list_signature/);
    });

    it('refuses an unlink without a signature', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(unlinkDevice(2, primaryActor, { listVersion: 3, listSignature: Buffer.alloc(0) }))
        .thenThrows('permission-denied', /list_signature/);
    });

    it('refuses a signature for another list version', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(
          unlinkDevice(2, primaryActor, {
            listVersion: 2,
            listSignature: signList(phone, 2, [entry(1, phone)]),
          }),
        )
        .thenThrows('failed-precondition', /at version 2: sign version 3/);
    });

    it('refuses the primary unlinking itself', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(
          unlinkDevice(1, primaryActor, {
            listVersion: 3,
            listSignature: signList(phone, 3, [entry(2, desktop)]),
          }),
        )
        .thenThrows('failed-precondition', /primary device cannot unlink itself/);
    });

    it('refuses a device that was never linked', () => {
      spec
        .given(history().registered().events)
        .when(unlinkDevice(5, primaryActor))
        .thenThrows('not-found', /device 5 is not linked/);
    });

    it('refuses a device that is already unlinked', () => {
      spec
        .given(history().registered().linked(desktop).unlinkedBySelf(2).events)
        .when(unlinkDevice(2, primaryActor))
        .thenThrows('not-found', /device 2 is not linked/);
    });
  });

  describe('when a companion unlinks', () => {
    it('unlinks itself at the next version, by itself, without a signature', () => {
      spec
        .given(history().registered().linked(desktop).linked(laptop).events)
        .when(unlinkDevice(3, companionActor(3)))
        .then([
          deviceUnlinked({
            deviceId: 3,
            reason: UnlinkReason.UNLINK_REASON_BY_SELF,
            listVersion: 4,
            byDeviceId: 3,
          }),
        ]);
    });

    it('refuses a companion unlinking another companion', () => {
      spec
        .given(history().registered().linked(desktop).linked(laptop).events)
        .when(unlinkDevice(3, companionActor(2)))
        .thenThrows('permission-denied', /may only unlink itself/);
    });

    it('refuses a companion unlinking the primary', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(unlinkDevice(1, companionActor(2)))
        .thenThrows('permission-denied', /may only unlink itself/);
    });
  });

  describe('when the primary has been inactive', () => {
    const inactivityMs = 30 * 24 * 60 * 60 * 1000;
    const inactiveSince = (ms: number) => ({
      type: 'UnlinkCompanionsOfInactivePrimary' as const,
      primaryLastActiveAt: new Date(now.getTime() - ms),
      inactivityMs,
      now,
    });

    it('records nothing one millisecond before the threshold', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(inactiveSince(inactivityMs - 1))
        .thenNothingHappens();
    });

    it.each([
      ['at', inactivityMs],
      ['after', inactivityMs + 1],
    ])('unlinks every companion, but not the primary, %s the threshold', (_, ms) => {
      spec
        .given(history().registered().linked(desktop).linked(laptop).linked(browser).unlinkedBySelf(3).events)
        .when(inactiveSince(ms))
        .then([
          deviceUnlinked({
            deviceId: 2,
            reason: UnlinkReason.UNLINK_REASON_PRIMARY_INACTIVE,
            listVersion: 6,
          }),
          deviceUnlinked({
            deviceId: 4,
            reason: UnlinkReason.UNLINK_REASON_PRIMARY_INACTIVE,
            listVersion: 7,
          }),
        ]);
    });

    it('records nothing when the primary has no companions', () => {
      spec
        .given(history().registered().events)
        .when(inactiveSince(inactivityMs * 2))
        .thenNothingHappens();
    });

    it('leaves the primary alone as the only device', () => {
      const given = history().registered().linked(desktop);
      const state = stateOf([
        ...given.events,
        ...deviceListDecider.decide(inactiveSince(inactivityMs), stateOf(given.events)),
      ]);
      expect(linkedDevices(state).map((device) => [device.deviceId, device.primary])).toEqual([[1, true]]);
    });
  });

  describe('when the phone number is registered on a new phone', () => {
    it('unlinks every device, companions first, then links the new primary with the next id and version', () => {
      spec
        .given(history().registered().linked(desktop).linked(laptop).events)
        .when(replacePrimary(newPhone))
        .then([
          deviceUnlinked({
            deviceId: 2,
            reason: UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
            listVersion: 4,
            unlinkedAt: registeredAt,
          }),
          deviceUnlinked({
            deviceId: 3,
            reason: UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
            listVersion: 5,
            unlinkedAt: registeredAt,
          }),
          deviceUnlinked({
            deviceId: 1,
            reason: UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
            listVersion: 6,
            unlinkedAt: registeredAt,
          }),
          primaryLinked(4, newPhone, 7),
        ]);
    });

    it('gives the new primary one more than the highest id ever given, unlinked devices included', () => {
      spec
        .given(history().registered().linked(desktop).linked(laptop).unlinkedBySelf(3).events)
        .when(replacePrimary(newPhone))
        .then([
          deviceUnlinked({
            deviceId: 2,
            reason: UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
            listVersion: 5,
            unlinkedAt: registeredAt,
          }),
          deviceUnlinked({
            deviceId: 1,
            reason: UnlinkReason.UNLINK_REASON_ACCOUNT_REREGISTERED,
            listVersion: 6,
            unlinkedAt: registeredAt,
          }),
          primaryLinked(4, newPhone, 7),
        ]);
    });

    it('records nothing when the same phone registers again', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(replacePrimary(phone))
        .thenNothingHappens();
    });

    it('records nothing when the re-registration is delivered again', () => {
      const given = history().registered().linked(desktop);
      const events = [
        ...given.events,
        ...deviceListDecider.decide(replacePrimary(newPhone), stateOf(given.events)),
      ];
      spec.given(events).when(replacePrimary(newPhone)).thenNothingHappens();
    });

    it('registers the primary as device 1 on an empty list', () => {
      spec
        .given([])
        .when(replacePrimary(newPhone))
        .then([primaryLinked(1, newPhone, 1)]);
    });

    it('links only the new primary when every device was already unlinked', () => {
      spec
        .given(
          history()
            .registered()
            .events.concat(
              deviceUnlinked({
                deviceId: 1,
                reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED,
                listVersion: 2,
              }),
            ),
        )
        .when(replacePrimary(newPhone))
        .then([primaryLinked(2, newPhone, 3)]);
    });

    it("makes the new phone's key the one that signs, and refuses the old phone's", () => {
      const given = history().registered().linked(desktop);
      const events = [
        ...given.events,
        ...deviceListDecider.decide(replacePrimary(newPhone), stateOf(given.events)),
      ];
      // Devices 1 and 2 were unlinked at versions 3 and 4; the new phone is device 3 at version 5.
      const newPrimary: Actor = { deviceId: 3, primary: true };
      const nextList = [entry(3, newPhone), entry(4, laptop)];
      const link = (signer: Identity) =>
        linkCompanion({
          deviceId: 4,
          identity: laptop,
          listVersion: 6,
          listSignature: signList(signer, 6, nextList),
          by: newPrimary,
        });
      spec
        .given(events)
        .when(link(phone))
        .thenThrows('permission-denied', /list_signature/);
      spec
        .given(events)
        .when(link(newPhone))
        .then([
          companionLinked({
            deviceId: 4,
            identity: laptop,
            listVersion: 6,
            listSignature: signList(newPhone, 6, nextList),
            byDeviceId: 3,
          }),
        ]);
    });
  });

  describe('when the account is deleted', () => {
    const deleteAll: DeviceListCommand = {
      type: 'UnlinkAllDevices',
      accountId,
      reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED,
      now,
    };

    it('unlinks every companion, then the primary, one version each', () => {
      spec
        .given(history().registered().linked(desktop).linked(laptop).events)
        .when(deleteAll)
        .then([
          deviceUnlinked({ deviceId: 2, reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED, listVersion: 4 }),
          deviceUnlinked({ deviceId: 3, reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED, listVersion: 5 }),
          deviceUnlinked({ deviceId: 1, reason: UnlinkReason.UNLINK_REASON_ACCOUNT_DELETED, listVersion: 6 }),
        ]);
    });

    it('records nothing when no device is linked', () => {
      const given = history().registered().linked(desktop);
      const events = [...given.events, ...deviceListDecider.decide(deleteAll, stateOf(given.events))];
      expect(linkedDevices(stateOf(events))).toEqual([]);
      spec.given(events).when(deleteAll).thenNothingHappens();
    });
  });

  describe('when a device is renamed', () => {
    const rename = (deviceId: number, name: string, by: Actor): DeviceListCommand => ({
      type: 'RenameDevice',
      deviceId,
      name,
      by,
    });
    const given = () => history().registered().linked(desktop).linked(laptop).events;

    it('lets a companion rename itself', () => {
      spec
        .given(given())
        .when(rename(2, 'Work desktop', companionActor(2)))
        .then([
          { $case: 'deviceRenamed', value: { accountId, deviceId: 2, name: 'Work desktop', byDeviceId: 2 } },
        ]);
    });

    it('lets the primary rename a companion', () => {
      spec
        .given(given())
        .when(rename(3, 'Kitchen laptop', primaryActor))
        .then([
          {
            $case: 'deviceRenamed',
            value: { accountId, deviceId: 3, name: 'Kitchen laptop', byDeviceId: 1 },
          },
        ]);
    });

    it('lets the primary rename itself', () => {
      spec
        .given(given())
        .when(rename(1, 'My phone', primaryActor))
        .then([
          { $case: 'deviceRenamed', value: { accountId, deviceId: 1, name: 'My phone', byDeviceId: 1 } },
        ]);
    });

    it('records the name trimmed', () => {
      spec
        .given(given())
        .when(rename(2, '  Work desktop \n', companionActor(2)))
        .then([
          { $case: 'deviceRenamed', value: { accountId, deviceId: 2, name: 'Work desktop', byDeviceId: 2 } },
        ]);
    });

    it('accepts a name of 64 characters, counting an emoji as one', () => {
      const name = `${'a'.repeat(63)}📱`;
      spec
        .given(given())
        .when(rename(2, name, companionActor(2)))
        .then([{ $case: 'deviceRenamed', value: { accountId, deviceId: 2, name, byDeviceId: 2 } }]);
    });

    it('refuses a companion renaming another companion', () => {
      spec
        .given(given())
        .when(rename(3, 'Mine now', companionActor(2)))
        .thenThrows('permission-denied', /may only rename itself/);
    });

    it('refuses a companion renaming the primary', () => {
      spec
        .given(given())
        .when(rename(1, 'Mine now', companionActor(2)))
        .thenThrows('permission-denied', /may only rename itself/);
    });

    it.each([
      ['empty', ''],
      ['only spaces', '   '],
    ])('refuses a name that is %s', (_, name) => {
      spec
        .given(given())
        .when(rename(2, name, companionActor(2)))
        .thenThrows('invalid-argument', /^name: must not be empty/);
    });

    it('refuses a name longer than 64 characters', () => {
      spec
        .given(given())
        .when(rename(2, 'a'.repeat(65), companionActor(2)))
        .thenThrows('invalid-argument', /^name: must be at most 64 characters/);
    });

    it('refuses a name with control characters', () => {
      spec
        .given(given())
        .when(rename(2, 'Work\u0007desktop', companionActor(2)))
        .thenThrows('invalid-argument', /^name: must not contain control characters/);
    });

    it('records nothing when the name is the same', () => {
      spec
        .given(history().registered().linked(desktop).renamed(2, 'Work desktop').events)
        .when(rename(2, ' Work desktop ', companionActor(2)))
        .thenNothingHappens();
    });

    it('refuses a device that is not linked', () => {
      spec
        .given(history().registered().linked(desktop).unlinkedBySelf(2).events)
        .when(rename(2, 'Gone', primaryActor))
        .thenThrows('not-found', /device 2 is not linked/);
    });
  });

  describe('when the primary signs the device list', () => {
    const signDeviceList = (
      listVersion: number,
      listSignature: Buffer,
      by: Actor = primaryActor,
    ): DeviceListCommand => ({
      type: 'SignDeviceList',
      listVersion,
      listSignature,
      by,
    });
    // A companion unlinked itself: version 4 is unsigned.
    const given = () => history().registered().linked(desktop).linked(laptop).unlinkedBySelf(2);
    const currentList = [entry(1, phone), entry(3, laptop)];

    it('records the signature for the current version', () => {
      const listSignature = signList(phone, 4, currentList);
      spec
        .given(given().events)
        .when(signDeviceList(4, listSignature))
        .then([{ $case: 'deviceListSigned', value: { accountId, listVersion: 4, listSignature } }]);
    });

    it('refuses a companion signing', () => {
      spec
        .given(given().events)
        .when(signDeviceList(4, signList(laptop, 4, currentList), companionActor(3)))
        .thenThrows('permission-denied', /only the primary device signs/);
    });

    it.each([3, 5])('refuses a signature for version %i when the list is at version 4', (listVersion) => {
      const command = signDeviceList(listVersion, signList(phone, listVersion, currentList));
      spec
        .given(given().events)
        .when(command)
        .thenThrows('failed-precondition', /at version 4: sign that version/);
      expect(refusal(() => deviceListDecider.decide(command, stateOf(given().events))).details).toEqual({
        currentListVersion: 4,
      });
    });

    it.each<[string, () => Buffer]>([
      ['by another key', () => signList(laptop, 4, currentList)],
      [
        'over a list still holding the unlinked device',
        () => signList(phone, 4, [entry(1, phone), entry(2, desktop), entry(3, laptop)]),
      ],
      ['for another account', () => signList(phone, 4, currentList, 'account-2')],
      ['that is garbage', () => Buffer.alloc(64, 9)],
    ])('refuses a signature %s', (_, listSignature) => {
      spec
        .given(given().events)
        .when(signDeviceList(4, listSignature()))
        .thenThrows('permission-denied', /list_signature does not verify/);
    });

    it('records nothing when the same signature comes again', () => {
      spec
        .given(given().signed().events)
        .when(signDeviceList(4, signList(phone, 4, currentList)))
        .thenNothingHappens();
    });

    it('records nothing when the signature is the one the last link carried', () => {
      spec
        .given(history().registered().linked(desktop).events)
        .when(signDeviceList(2, signList(phone, 2, [entry(1, phone), entry(2, desktop)])))
        .thenNothingHappens();
    });
  });

  describe('the folded state', () => {
    it('keeps the signature only for the version it signs', () => {
      const given = history().registered();
      expect(stateOf(given.events).signature).toBeUndefined();

      given.linked(desktop);
      const linkSignature = signList(phone, 2, [entry(1, phone), entry(2, desktop)]);
      expect(stateOf(given.events).signature).toEqual({ listVersion: 2, value: linkSignature });

      given.renamed(2, 'Work desktop');
      expect(stateOf(given.events).signature).toEqual({ listVersion: 2, value: linkSignature });

      given.linked(laptop).unlinkedBySelf(3);
      expect(stateOf(given.events).signature).toBeUndefined();

      given.signed();
      expect(stateOf(given.events).signature).toEqual({
        listVersion: 4,
        value: signList(phone, 4, [entry(1, phone), entry(2, desktop)]),
      });

      given.unlinkedByPrimary(2);
      expect(stateOf(given.events).signature).toEqual({
        listVersion: 5,
        value: signList(phone, 5, [entry(1, phone)]),
      });
    });

    it('lists the linked devices, primary first, then companions by id', () => {
      const state = stateOf([
        companionLinked({ deviceId: 3, identity: laptop, listVersion: 3, listSignature: Buffer.alloc(0) }),
        primaryLinked(1, phone, 1),
        companionLinked({ deviceId: 2, identity: desktop, listVersion: 2, listSignature: Buffer.alloc(0) }),
      ]);
      expect(linkedDevices(state).map((device) => device.deviceId)).toEqual([1, 2, 3]);
    });

    it('keeps what each device was linked with, and its latest name', () => {
      const state = stateOf(history().registered().linked(desktop).renamed(2, 'Work desktop').events);
      expect(linkedDevices(state)).toEqual([
        {
          deviceId: 1,
          identityKey: phone.identityKey,
          registrationId: 7,
          name: 'Pixel',
          platform: DevicePlatform.DEVICE_PLATFORM_PHONE,
          primary: true,
          linkedAt: registeredAt,
          linkSessionId: '',
        },
        {
          deviceId: 2,
          identityKey: desktop.identityKey,
          registrationId: 102,
          name: 'Work desktop',
          platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
          primary: false,
          linkedAt: now,
          linkSessionId: 'session-2',
        },
      ]);
      expect(primaryOf(state)?.deviceId).toBe(1);
    });

    it('lists the new primary after a re-registration', () => {
      const given = history().registered().linked(desktop);
      const state = stateOf([
        ...given.events,
        ...deviceListDecider.decide(replacePrimary(newPhone), stateOf(given.events)),
      ]);
      expect(linkedDevices(state).map((device) => [device.deviceId, device.primary])).toEqual([[3, true]]);
      expect(primaryOf(state)?.identityKey).toEqual(newPhone.identityKey);
    });

    it('gives as current content the list the primary signed, devices ascending by id', () => {
      const state = stateOf(
        history().registered().linked(desktop).linked(laptop).unlinkedByPrimary(2).events,
      );
      const content = currentListContent(state);
      expect(DeviceListContent.decode(content)).toEqual({
        accountId,
        listVersion: 4,
        devices: [
          { deviceId: 1, identityKey: phone.identityKey },
          { deviceId: 3, identityKey: laptop.identityKey },
        ],
      });
      expect(state.signature?.listVersion).toBe(4);
      expect(verifyEd25519(phone.identityKey, content, state.signature?.value ?? Buffer.alloc(0))).toBe(true);
    });

    it('hashes the list to 16 hex digits that change when the list changes, not when a device is renamed', () => {
      const given = history().registered().linked(desktop);
      const hash = () => deviceListHash(currentListContent(stateOf(given.events)));
      const linked = hash();
      expect(linked).toMatch(/^[0-9a-f]{16}$/);

      given.renamed(2, 'Work desktop');
      expect(hash()).toBe(linked);

      given.linked(laptop);
      const relinked = hash();
      expect(relinked).toMatch(/^[0-9a-f]{16}$/);
      expect(relinked).not.toBe(linked);

      given.unlinkedBySelf(3);
      expect(hash()).not.toBe(relinked);
      expect(hash()).not.toBe(linked);
    });
  });
});

describe('the device list content', () => {
  it('orders the devices ascending by id, whatever order they come in', () => {
    const devices = [entry(3, laptop), entry(1, phone), entry(2, desktop)];
    expect(deviceListContent(accountId, 3, devices)).toEqual(
      deviceListContent(accountId, 3, [entry(1, phone), entry(2, desktop), entry(3, laptop)]),
    );
    expect(
      DeviceListContent.decode(deviceListContent(accountId, 3, devices)).devices.map((d) => d.deviceId),
    ).toEqual([1, 2, 3]);
  });

  it('differs by account and by version', () => {
    const base = Buffer.from(deviceListContent(accountId, 3, [entry(1, phone)]));
    expect(base.equals(Buffer.from(deviceListContent('account-2', 3, [entry(1, phone)])))).toBe(false);
    expect(base.equals(Buffer.from(deviceListContent(accountId, 4, [entry(1, phone)])))).toBe(false);
  });
});

describe('verifying an Ed25519 signature', () => {
  const content = deviceListContent(accountId, 1, [entry(1, phone)]);
  const signature = sign(null, content, phone.privateKey);

  it('accepts the signature by the raw public key', () => {
    expect(verifyEd25519(phone.identityKey, content, signature)).toBe(true);
  });

  it('refuses it with the wrong key', () => {
    expect(verifyEd25519(desktop.identityKey, content, signature)).toBe(false);
  });

  it('refuses it over other content', () => {
    expect(
      verifyEd25519(phone.identityKey, deviceListContent(accountId, 2, [entry(1, phone)]), signature),
    ).toBe(false);
  });

  it.each([
    ['a short signature', () => verifyEd25519(phone.identityKey, content, signature.subarray(0, 63))],
    [
      'a long signature',
      () => verifyEd25519(phone.identityKey, content, Buffer.concat([signature, Buffer.of(0)])),
    ],
    ['an empty signature', () => verifyEd25519(phone.identityKey, content, Buffer.alloc(0))],
    ['a short public key', () => verifyEd25519(phone.identityKey.subarray(0, 31), content, signature)],
  ])('returns false, without throwing, for %s', (_, verifyIt) => {
    expect(verifyIt()).toBe(false);
  });
});
