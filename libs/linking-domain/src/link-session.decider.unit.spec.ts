import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import { fold } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import type { DeviceListDomainEvent } from './device-list.decider';
import {
  type ApproveLinkSession,
  type ExpireLinkSession,
  isOpen,
  LINK_SESSION_TTL_MS,
  linkSessionDecider,
  linkSessionStreamId,
  type StartLinkSession,
} from './link-session.decider';

const spec = deciderSpecification(linkSessionDecider);

const sessionId = 'session-qr-1';
const startedAt = new Date('2026-11-25T10:00:00.000Z');
const expiresAt = new Date('2026-11-25T10:01:00.000Z');
const beforeExpiry = new Date('2026-11-25T10:00:59.999Z');
const afterExpiry = new Date('2026-11-25T10:01:00.001Z');
const companionKey = Buffer.alloc(32, 0xc1);
const otherKey = Buffer.alloc(32, 0xc2);

const start = (overrides: Partial<StartLinkSession> = {}): StartLinkSession => ({
  type: 'StartLinkSession',
  sessionId,
  identityKey: companionKey,
  registrationId: 4242,
  name: 'Office desktop',
  platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
  now: startedAt,
  ttlMs: LINK_SESSION_TTL_MS,
  ...overrides,
});

const approve = (overrides: Partial<ApproveLinkSession> = {}): ApproveLinkSession => ({
  type: 'ApproveLinkSession',
  accountId: 'account-1',
  byDeviceId: 1,
  byPrimary: true,
  identityKey: companionKey,
  now: startedAt,
  ...overrides,
});

const expire = (now: Date): ExpireLinkSession => ({ type: 'ExpireLinkSession', now });

function started(overrides: { name?: string; platform?: DevicePlatform; expiresAt?: Date } = {}) {
  return {
    $case: 'linkSessionStarted',
    value: {
      sessionId,
      identityKey: companionKey,
      registrationId: 4242,
      name: overrides.name ?? 'Office desktop',
      platform: overrides.platform ?? DevicePlatform.DEVICE_PLATFORM_DESKTOP,
      expiresAt: overrides.expiresAt ?? expiresAt,
      accountId: '',
    },
  } satisfies DeviceListDomainEvent;
}

const approved = (accountId = 'account-1', byDeviceId = 1): DeviceListDomainEvent => ({
  $case: 'linkSessionApproved',
  value: { sessionId, accountId, byDeviceId },
});

const expired: DeviceListDomainEvent = { $case: 'linkSessionExpired', value: { sessionId, accountId: '' } };

describe('the link session decider', () => {
  describe('when a companion starts a link session', () => {
    it('records the session, expiring one time-to-live after it started', () => {
      spec.given([]).when(start()).then([started()]);
    });

    it('expires after the time-to-live it is given', () => {
      spec
        .given([])
        .when(start({ ttlMs: 5_000 }))
        .then([started({ expiresAt: new Date('2026-11-25T10:00:05.000Z') })]);
    });

    it('lives about a minute by default, as the QR code rotates', () => {
      expect(LINK_SESSION_TTL_MS).toBe(60_000);
    });

    it.each([
      ['empty', ''],
      ['blank', '   '],
    ])("names the companion 'Companion' when its name is %s", (_, name) => {
      spec
        .given([])
        .when(start({ name }))
        .then([started({ name: 'Companion' })]);
    });

    it('records the name trimmed', () => {
      spec
        .given([])
        .when(start({ name: '  Office desktop  ' }))
        .then([started()]);
    });

    it('accepts a name of 64 characters', () => {
      const name = 'n'.repeat(64);
      spec
        .given([])
        .when(start({ name }))
        .then([started({ name })]);
    });

    it('refuses a name longer than 64 characters', () => {
      spec
        .given([])
        .when(start({ name: 'n'.repeat(65) }))
        .thenThrows('invalid-argument', /^name: must be at most 64 characters/);
    });

    it('takes a desktop when the platform is not said', () => {
      spec
        .given([])
        .when(start({ platform: DevicePlatform.DEVICE_PLATFORM_UNSPECIFIED }))
        .then([started({ platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP })]);
    });

    it.each([
      DevicePlatform.DEVICE_PLATFORM_WEB,
      DevicePlatform.DEVICE_PLATFORM_TABLET,
      DevicePlatform.DEVICE_PLATFORM_PHONE,
    ])('keeps the platform it is told (%i)', (platform) => {
      spec
        .given([])
        .when(start({ platform }))
        .then([started({ platform })]);
    });

    it.each([
      ['unrecognised', DevicePlatform.UNRECOGNIZED],
      ['out of range', 99 as DevicePlatform],
    ])('refuses a platform that is %s', (_, platform) => {
      spec
        .given([])
        .when(start({ platform }))
        .thenThrows('invalid-argument', /^platform: unknown value/);
    });

    it.each([
      ['empty', 0],
      ['31 bytes', 31],
      ['33 bytes', 33],
    ])('refuses an identity key that is %s', (_, length) => {
      spec
        .given([])
        .when(start({ identityKey: Buffer.alloc(length, 1) }))
        .thenThrows('invalid-argument', /^identity_key: must be a 32-byte Ed25519 public key/);
    });

    it.each([0, -1, 16381, 1.5])('refuses registration id %d', (registrationId) => {
      spec
        .given([])
        .when(start({ registrationId }))
        .thenThrows('invalid-argument', /^registration_id: must be between 1 and 16380/);
    });

    it.each([1, 16380])('accepts registration id %i', (registrationId) => {
      spec
        .given([])
        .when(start({ registrationId }))
        .then([{ ...started(), value: { ...started().value, registrationId } }]);
    });

    it.each<[string, DeviceListDomainEvent[]]>([
      ['open', [started()]],
      ['approved', [started(), approved()]],
      ['expired', [started(), expired]],
    ])('refuses starting a session that is already %s', (_, given) => {
      spec
        .given(given)
        .when(start())
        .thenThrows('failed-precondition', /already started/);
    });
  });

  describe('when the primary approves a link', () => {
    it('refuses a session that was never started', () => {
      spec
        .given([])
        .when(approve())
        .thenThrows('not-found', /no such link session/);
    });

    it('records the approval by the account and its primary', () => {
      spec
        .given([started()])
        .when(approve({ accountId: 'account-7', byDeviceId: 3, now: beforeExpiry }))
        .then([approved('account-7', 3)]);
    });

    it.each([
      ['at', expiresAt],
      ['after', afterExpiry],
    ])('refuses the approval %s the expiry', (_, now) => {
      spec
        .given([started()])
        .when(approve({ now }))
        .thenThrows('failed-precondition', /expired or was already used/);
    });

    it('refuses a session recorded as expired', () => {
      spec
        .given([started(), expired])
        .when(approve({ now: afterExpiry }))
        .thenThrows('failed-precondition', /expired or was already used/);
    });

    it('refuses a session another account already approved', () => {
      spec
        .given([started(), approved('account-1')])
        .when(approve({ accountId: 'account-2' }))
        .thenThrows('failed-precondition', /expired or was already used/);
    });

    it.each([
      ['before', beforeExpiry],
      ['after', afterExpiry],
    ])('refuses the same account approving again %s the expiry: a session is used once', (_, now) => {
      spec
        .given([started(), approved('account-1')])
        .when(approve({ accountId: 'account-1', now }))
        .thenThrows('failed-precondition', /expired or was already used/);
    });

    it('refuses a companion as approver before looking at the session', () => {
      spec
        .given([started()])
        .when(approve({ byDeviceId: 2, byPrimary: false, identityKey: otherKey }))
        .thenThrows('permission-denied', /only the primary device may approve a link/);
    });

    it('refuses an identity key other than the one the QR code carries', () => {
      spec
        .given([started()])
        .when(approve({ identityKey: otherKey }))
        .thenThrows('invalid-argument', /^identity_key: does not match the link session/);
    });
  });

  describe('when the expiry sweep runs', () => {
    it('records nothing before the expiry', () => {
      spec.given([started()]).when(expire(beforeExpiry)).thenNothingHappens();
    });

    it.each([
      ['at', expiresAt],
      ['after', afterExpiry],
    ])('records the session expired %s the expiry', (_, now) => {
      spec.given([started()]).when(expire(now)).then([expired]);
    });

    it('records the expiry only once', () => {
      spec
        .given([started(), expired])
        .when(expire(new Date('2026-11-25T11:00:00.000Z')))
        .thenNothingHappens();
    });

    it('never expires an approved session', () => {
      spec
        .given([started(), approved()])
        .when(expire(new Date('2026-11-26T10:00:00.000Z')))
        .thenNothingHappens();
    });

    it('records nothing for a session that was never started', () => {
      spec.given([]).when(expire(afterExpiry)).thenNothingHappens();
    });
  });

  describe('whether a session is open', () => {
    const stateOf = (events: readonly DeviceListDomainEvent[]) => fold(linkSessionDecider, events);

    it('is open after it started, until its expiry', () => {
      expect(isOpen(stateOf([started()]), startedAt)).toBe(true);
      expect(isOpen(stateOf([started()]), beforeExpiry)).toBe(true);
      expect(isOpen(stateOf([started()]), expiresAt)).toBe(false);
      expect(isOpen(stateOf([started()]), afterExpiry)).toBe(false);
    });

    it.each<[string, DeviceListDomainEvent[]]>([
      ['never started', []],
      ['approved', [started(), approved()]],
      ['recorded as expired', [started(), expired]],
    ])('is closed when it was %s', (_, events) => {
      expect(isOpen(stateOf(events), startedAt)).toBe(false);
    });

    it('keeps what the companion sent, and the approving account', () => {
      expect(stateOf([started(), approved('account-9')])).toEqual({
        status: 'approved',
        accountId: 'account-9',
        sessionId,
        identityKey: companionKey,
        registrationId: 4242,
        name: 'Office desktop',
        platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
        expiresAt,
      });
    });

    it('ignores an approval or expiry for a session it never saw started', () => {
      expect(stateOf([approved(), expired])).toEqual({ status: 'none' });
    });
  });

  it('keeps each session in its own stream', () => {
    expect(linkSessionStreamId(sessionId)).toBe('link-session:session-qr-1');
  });
});
