/**
 * The LinkSession aggregate: one per QR code a companion shows.
 * Invariants:
 * - a session starts with the companion's valid identity key, registration id and name, and
 *   expires `ttl` after it started;
 * - only a primary device approves;
 * - a session is approved at most once, by one account, before it expires (single use): approving
 *   an expired or used session is refused and records nothing, also by the account that used it;
 * - the identity key the primary read from the QR code must be the session's;
 * - an unapproved session past its expiry is recorded as expired once.
 */
import {
  assertNever,
  type Decider,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  validateDeviceName,
  validateIdentityKey,
  validateRegistrationId,
} from '@tandem/decider';
import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import type { DeviceListDomainEvent } from './device-list.decider';

export const LINK_SESSION_TTL_MS = 60_000;

export interface LinkSession {
  readonly sessionId: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly platform: DevicePlatform;
  readonly expiresAt: Date;
}

export type LinkSessionState =
  | { readonly status: 'none' }
  | ({ readonly status: 'started' } & LinkSession)
  | ({ readonly status: 'approved'; readonly accountId: string } & LinkSession)
  | ({ readonly status: 'expired' } & LinkSession);

export interface StartLinkSession {
  readonly type: 'StartLinkSession';
  readonly sessionId: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly platform: DevicePlatform;
  readonly now: Date;
  readonly ttlMs: number;
}

export interface ApproveLinkSession {
  readonly type: 'ApproveLinkSession';
  readonly accountId: string;
  readonly byDeviceId: number;
  /** Whether the approving device is the account's primary: only a primary approves. */
  readonly byPrimary: boolean;
  /** The identity key the primary read from the QR code. */
  readonly identityKey: Uint8Array;
  readonly now: Date;
}

export interface ExpireLinkSession {
  readonly type: 'ExpireLinkSession';
  readonly now: Date;
}

export type LinkSessionCommand = StartLinkSession | ApproveLinkSession | ExpireLinkSession;

const knownPlatforms = [
  DevicePlatform.DEVICE_PLATFORM_DESKTOP,
  DevicePlatform.DEVICE_PLATFORM_WEB,
  DevicePlatform.DEVICE_PLATFORM_TABLET,
  DevicePlatform.DEVICE_PLATFORM_PHONE,
];

/** Whether the session can still be approved at `now`. */
export const isOpen = (state: LinkSessionState, now: Date): boolean =>
  state.status === 'started' && now.getTime() < state.expiresAt.getTime();

function decide(command: LinkSessionCommand, state: LinkSessionState): DeviceListDomainEvent[] {
  switch (command.type) {
    case 'StartLinkSession': {
      if (state.status !== 'none') throw failedPrecondition('link session already started');
      const platform =
        command.platform === DevicePlatform.DEVICE_PLATFORM_UNSPECIFIED
          ? DevicePlatform.DEVICE_PLATFORM_DESKTOP
          : command.platform;
      if (!knownPlatforms.includes(platform))
        throw invalidArgument('platform', `unknown value ${command.platform}`);
      return [
        {
          $case: 'linkSessionStarted',
          value: {
            sessionId: command.sessionId,
            identityKey: Buffer.from(validateIdentityKey(command.identityKey)),
            registrationId: validateRegistrationId(command.registrationId),
            name: validateDeviceName(command.name, 'Companion', 'name'),
            platform,
            expiresAt: new Date(command.now.getTime() + command.ttlMs),
            accountId: '',
          },
        },
      ];
    }
    case 'ApproveLinkSession': {
      if (!command.byPrimary) throw permissionDenied('only the primary device may approve a link');
      if (state.status === 'none') throw notFound('no such link session');
      if (!isOpen(state, command.now)) {
        throw failedPrecondition('the link session expired or was already used; show a new QR code');
      }
      if (!Buffer.from(state.identityKey).equals(Buffer.from(command.identityKey))) {
        throw invalidArgument('identity_key', 'does not match the link session; scan the QR code again');
      }
      return [
        {
          $case: 'linkSessionApproved',
          value: { sessionId: state.sessionId, accountId: command.accountId, byDeviceId: command.byDeviceId },
        },
      ];
    }
    case 'ExpireLinkSession':
      if (state.status !== 'started' || command.now.getTime() < state.expiresAt.getTime()) return [];
      return [{ $case: 'linkSessionExpired', value: { sessionId: state.sessionId, accountId: '' } }];
    default:
      return assertNever(command);
  }
}

function evolve(state: LinkSessionState, event: DeviceListDomainEvent): LinkSessionState {
  switch (event.$case) {
    case 'linkSessionStarted': {
      const { sessionId, identityKey, registrationId, name, platform, expiresAt } = event.value;
      return {
        status: 'started',
        sessionId,
        identityKey,
        registrationId,
        name,
        platform,
        expiresAt: expiresAt ?? new Date(0),
      };
    }
    case 'linkSessionApproved':
      return state.status === 'none'
        ? state
        : { ...state, status: 'approved', accountId: event.value.accountId };
    case 'linkSessionExpired':
      return state.status === 'started' ? { ...state, status: 'expired' } : state;
    default:
      return state;
  }
}

export const linkSessionDecider: Decider<LinkSessionCommand, DeviceListDomainEvent, LinkSessionState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'none' }),
};

export const linkSessionStreamId = (sessionId: string): string => `link-session:${sessionId}`;
