/**
 * The Account aggregate: one per account id.
 * Invariants:
 * - an account is registered once, with a valid E.164 phone number and its primary device's key;
 * - a profile keeps a display name of at most 25 characters, an about text of at most 139 and an
 *   avatar reference of at most 256; settings hold known enum values;
 * - only registered accounts change; a deleted account changes no more;
 * - only the primary device deletes the account;
 * - a registered account's number can be registered again on a new phone, which becomes the
 *   primary; registering again with the same primary key records nothing;
 * - an account blocks other existing accounts, never itself, at most 1,000 at once; blocking a
 *   blocked account or unblocking one that is not blocked records nothing;
 * - a change that changes nothing records nothing.
 */
import {
  assertNever,
  type Decider,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
} from '@tandem/decider';
import type { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { BackupFrequency, LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import {
  validateAbout,
  validateAvatarRef,
  validateBackupFrequency,
  validateDisplayName,
  validateLastSeenVisibility,
  validateRegistration,
} from './account.validation';

export type AccountDomainEvent = NonNullable<AccountEvent['event']>;

export interface Profile {
  readonly displayName: string;
  readonly about: string;
  readonly avatarRef: string;
}

export interface Settings {
  readonly lastSeenVisibility: LastSeenVisibility;
  readonly backupFrequency: BackupFrequency;
  readonly backupWifiOnly: boolean;
  readonly backupIncludeVideos: boolean;
}

export interface AccountData {
  readonly accountId: string;
  readonly phoneNumber: string;
  readonly primaryIdentityKey: Uint8Array;
  readonly profile: Profile;
  readonly settings: Settings;
  /** The accounts it blocks, in the order it blocked them. */
  readonly blocked: readonly string[];
}

/** How many accounts one account may block. */
export const BLOCKED_ACCOUNTS_LIMIT = 1_000;

export type AccountState =
  | { readonly status: 'unregistered' }
  | ({ readonly status: 'registered' } & AccountData)
  | ({ readonly status: 'deleted' } & AccountData);

export const defaultSettings: Settings = {
  lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE,
  backupFrequency: BackupFrequency.BACKUP_FREQUENCY_OFF,
  backupWifiOnly: true,
  backupIncludeVideos: false,
};

export interface RegisterAccount {
  readonly type: 'RegisterAccount';
  readonly accountId: string;
  readonly phoneNumber: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly deviceName: string;
  readonly now: Date;
}

/** The account's number registered again on a new phone, its new primary device. */
export interface ReregisterAccount extends Omit<RegisterAccount, 'type'> {
  readonly type: 'ReregisterAccount';
}

export interface UpdateProfile {
  readonly type: 'UpdateProfile';
  readonly byDeviceId: number;
  readonly displayName?: string;
  readonly about?: string;
  readonly avatarRef?: string;
}

export interface UpdateSettings {
  readonly type: 'UpdateSettings';
  readonly byDeviceId: number;
  readonly lastSeenVisibility?: LastSeenVisibility;
  readonly backupFrequency?: BackupFrequency;
  readonly backupWifiOnly?: boolean;
  readonly backupIncludeVideos?: boolean;
}

export interface DeleteAccount {
  readonly type: 'DeleteAccount';
  readonly byDeviceId: number;
  readonly byPrimary: boolean;
}

export interface BlockAccount {
  readonly type: 'BlockAccount';
  readonly byDeviceId: number;
  readonly blockedAccountId: string;
  /** Whether the account to block exists and is not deleted, as the accounts read model says. */
  readonly blockedAccountExists: boolean;
}

export interface UnblockAccount {
  readonly type: 'UnblockAccount';
  readonly byDeviceId: number;
  readonly blockedAccountId: string;
}

export type AccountCommand =
  | RegisterAccount
  | ReregisterAccount
  | UpdateProfile
  | UpdateSettings
  | DeleteAccount
  | BlockAccount
  | UnblockAccount;

function requireRegistered(state: AccountState): AccountData {
  if (state.status === 'unregistered') throw notFound('account not found');
  if (state.status === 'deleted') throw failedPrecondition('account is deleted');
  return state;
}

function decide(command: AccountCommand, state: AccountState): AccountDomainEvent[] {
  switch (command.type) {
    case 'RegisterAccount': {
      if (state.status !== 'unregistered') throw failedPrecondition('account is already registered');
      const registration = validateRegistration(command);
      return [
        {
          $case: 'accountRegistered',
          value: {
            accountId: command.accountId,
            phoneNumber: registration.phoneNumber,
            primaryIdentityKey: Buffer.from(command.identityKey),
            primaryRegistrationId: command.registrationId,
            primaryDeviceName: registration.deviceName,
            registeredAt: command.now,
          },
        },
      ];
    }
    case 'ReregisterAccount': {
      const account = requireRegistered(state);
      const registration = validateRegistration(command);
      if (registration.phoneNumber !== account.phoneNumber) {
        throw failedPrecondition('the account is registered with another phone number');
      }
      if (Buffer.from(account.primaryIdentityKey).equals(Buffer.from(command.identityKey))) return [];
      return [
        {
          $case: 'accountReregistered',
          value: {
            accountId: account.accountId,
            phoneNumber: account.phoneNumber,
            primaryIdentityKey: Buffer.from(command.identityKey),
            primaryRegistrationId: command.registrationId,
            primaryDeviceName: registration.deviceName,
            reregisteredAt: command.now,
          },
        },
      ];
    }
    case 'UpdateProfile': {
      const account = requireRegistered(state);
      const profile: Profile = {
        displayName:
          command.displayName === undefined
            ? account.profile.displayName
            : validateDisplayName(command.displayName),
        about: command.about === undefined ? account.profile.about : validateAbout(command.about),
        avatarRef:
          command.avatarRef === undefined ? account.profile.avatarRef : validateAvatarRef(command.avatarRef),
      };
      if (sameFields(profile, account.profile)) return [];
      return [
        {
          $case: 'profileUpdated',
          value: { accountId: account.accountId, ...profile, byDeviceId: command.byDeviceId },
        },
      ];
    }
    case 'UpdateSettings': {
      const account = requireRegistered(state);
      const current = account.settings;
      const settings: Settings = {
        lastSeenVisibility:
          command.lastSeenVisibility === undefined
            ? current.lastSeenVisibility
            : validateLastSeenVisibility(command.lastSeenVisibility),
        backupFrequency:
          command.backupFrequency === undefined
            ? current.backupFrequency
            : validateBackupFrequency(command.backupFrequency),
        backupWifiOnly: command.backupWifiOnly ?? current.backupWifiOnly,
        backupIncludeVideos: command.backupIncludeVideos ?? current.backupIncludeVideos,
      };
      if (sameFields(settings, current)) return [];
      return [
        {
          $case: 'settingsUpdated',
          value: { accountId: account.accountId, ...settings, byDeviceId: command.byDeviceId },
        },
      ];
    }
    case 'DeleteAccount': {
      const account = requireRegistered(state);
      if (!command.byPrimary) throw permissionDenied('only the primary device may delete the account');
      return [
        {
          $case: 'accountDeleted',
          value: {
            accountId: account.accountId,
            phoneNumber: account.phoneNumber,
            byDeviceId: command.byDeviceId,
          },
        },
      ];
    }
    case 'BlockAccount': {
      const account = requireRegistered(state);
      if (!command.blockedAccountId) throw invalidArgument('blocked_account_id', 'is required');
      if (command.blockedAccountId.length > 64) {
        throw invalidArgument('blocked_account_id', 'is at most 64 characters');
      }
      if (command.blockedAccountId === account.accountId) {
        throw invalidArgument('blocked_account_id', 'an account cannot block itself');
      }
      if (account.blocked.includes(command.blockedAccountId)) return [];
      if (!command.blockedAccountExists) throw notFound(`no account ${command.blockedAccountId}`);
      if (account.blocked.length >= BLOCKED_ACCOUNTS_LIMIT) {
        throw failedPrecondition(`an account blocks at most ${BLOCKED_ACCOUNTS_LIMIT} accounts`);
      }
      return [
        {
          $case: 'accountBlocked',
          value: {
            accountId: account.accountId,
            blockedAccountId: command.blockedAccountId,
            byDeviceId: command.byDeviceId,
          },
        },
      ];
    }
    case 'UnblockAccount': {
      const account = requireRegistered(state);
      if (!command.blockedAccountId) throw invalidArgument('blocked_account_id', 'is required');
      if (!account.blocked.includes(command.blockedAccountId)) return [];
      return [
        {
          $case: 'accountUnblocked',
          value: {
            accountId: account.accountId,
            unblockedAccountId: command.blockedAccountId,
            byDeviceId: command.byDeviceId,
          },
        },
      ];
    }
    default:
      return assertNever(command);
  }
}

function evolve(state: AccountState, event: AccountDomainEvent): AccountState {
  switch (event.$case) {
    case 'accountRegistered':
      return {
        status: 'registered',
        accountId: event.value.accountId,
        phoneNumber: event.value.phoneNumber,
        primaryIdentityKey: event.value.primaryIdentityKey,
        profile: { displayName: '', about: '', avatarRef: '' },
        settings: defaultSettings,
        blocked: [],
      };
    case 'accountReregistered':
      return state.status === 'registered'
        ? { ...state, primaryIdentityKey: event.value.primaryIdentityKey }
        : state;
    case 'profileUpdated': {
      if (state.status === 'unregistered') return state;
      const { displayName, about, avatarRef } = event.value;
      return { ...state, profile: { displayName, about, avatarRef } };
    }
    case 'settingsUpdated': {
      if (state.status === 'unregistered') return state;
      const { lastSeenVisibility, backupFrequency, backupWifiOnly, backupIncludeVideos } = event.value;
      return {
        ...state,
        settings: { lastSeenVisibility, backupFrequency, backupWifiOnly, backupIncludeVideos },
      };
    }
    case 'accountDeleted':
      return state.status === 'registered' ? { ...state, status: 'deleted' } : state;
    case 'accountBlocked':
      return state.status === 'unregistered'
        ? state
        : { ...state, blocked: [...state.blocked, event.value.blockedAccountId] };
    case 'accountUnblocked':
      return state.status === 'unregistered'
        ? state
        : {
            ...state,
            blocked: state.blocked.filter((blocked) => blocked !== event.value.unblockedAccountId),
          };
    case 'phoneNumberClaimed':
      return state;
    default:
      return assertNever(event);
  }
}

function sameFields<T extends object>(a: T, b: T): boolean {
  return (Object.keys(a) as (keyof T)[]).every((key) => a[key] === b[key]);
}

export const accountDecider: Decider<AccountCommand, AccountDomainEvent, AccountState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'unregistered' }),
};
