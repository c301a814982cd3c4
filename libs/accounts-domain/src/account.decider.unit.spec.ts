import { BackupFrequency, LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import { deciderSpecification } from '@tandem/testing';
import { describe, it } from 'vitest';
import {
  type AccountCommand,
  type AccountDomainEvent,
  accountDecider,
  BLOCKED_ACCOUNTS_LIMIT,
  type RegisterAccount,
} from './account.decider';

const spec = deciderSpecification(accountDecider);
const now = new Date('2026-11-25T10:00:00Z');
const accountId = 'a1';
const identityKey = new Uint8Array(32).fill(7);

const register: RegisterAccount = {
  type: 'RegisterAccount',
  accountId,
  phoneNumber: '+4915112345678',
  identityKey,
  registrationId: 42,
  deviceName: 'Pixel',
  now,
};

const registered: AccountDomainEvent = {
  $case: 'accountRegistered',
  value: {
    accountId,
    phoneNumber: '+4915112345678',
    primaryIdentityKey: Buffer.from(identityKey),
    primaryRegistrationId: 42,
    primaryDeviceName: 'Pixel',
    registeredAt: now,
  },
};

const deleted: AccountDomainEvent = {
  $case: 'accountDeleted',
  value: { accountId, phoneNumber: '+4915112345678', byDeviceId: 1 },
};

const newPhoneKey = new Uint8Array(32).fill(9);

const reregister: AccountCommand = {
  ...register,
  type: 'ReregisterAccount',
  identityKey: newPhoneKey,
  registrationId: 77,
  deviceName: 'New phone',
};

const reregistered: AccountDomainEvent = {
  $case: 'accountReregistered',
  value: {
    accountId,
    phoneNumber: '+4915112345678',
    primaryIdentityKey: Buffer.from(newPhoneKey),
    primaryRegistrationId: 77,
    primaryDeviceName: 'New phone',
    reregisteredAt: now,
  },
};

describe('the account decider', () => {
  describe('when the number is registered again on a new phone', () => {
    it('records AccountReregistered with the new primary device', () => {
      spec.given([registered]).when(reregister).then([reregistered]);
    });

    it('records nothing when the same new phone registers again', () => {
      spec.given([registered, reregistered]).when(reregister).thenNothingHappens();
    });

    it('records nothing when the current primary registers again', () => {
      spec
        .given([registered])
        .when({ ...reregister, identityKey })
        .thenNothingHappens();
    });

    it('refuses an account that was never registered', () => {
      spec
        .given([])
        .when(reregister)
        .thenThrows('not-found', /account not found/);
    });

    it('refuses a deleted account', () => {
      spec
        .given([registered, deleted])
        .when(reregister)
        .thenThrows('failed-precondition', /deleted/);
    });

    it('refuses another phone number', () => {
      spec
        .given([registered])
        .when({ ...reregister, phoneNumber: '+4915187654321' })
        .thenThrows('failed-precondition', /another phone number/);
    });

    it('refuses an identity key that is not 32 bytes', () => {
      spec
        .given([registered])
        .when({ ...reregister, identityKey: new Uint8Array(31) })
        .thenThrows('invalid-argument', /identity_key/);
    });
  });

  describe('when an account registers', () => {
    it('records AccountRegistered with the primary device', () => {
      spec.given([]).when(register).then([registered]);
    });

    it('names an empty device name "Primary"', () => {
      spec
        .given([])
        .when({ ...register, deviceName: '  ' })
        .then([{ ...registered, value: { ...registered.value, primaryDeviceName: 'Primary' } }]);
    });

    it('refuses a phone number that is not E.164', () => {
      spec
        .given([])
        .when({ ...register, phoneNumber: '015112345678' })
        .thenThrows('invalid-argument', /phone_number/);
    });

    it('refuses a phone number that cannot exist', () => {
      spec
        .given([])
        .when({ ...register, phoneNumber: '+4900000' })
        .thenThrows('invalid-argument', /phone_number/);
    });

    it('refuses an identity key that is not 32 bytes', () => {
      spec
        .given([])
        .when({ ...register, identityKey: new Uint8Array(33) })
        .thenThrows('invalid-argument', /identity_key/);
    });

    it('refuses a registration id out of range', () => {
      spec
        .given([])
        .when({ ...register, registrationId: 0 })
        .thenThrows('invalid-argument', /registration_id/);
      spec
        .given([])
        .when({ ...register, registrationId: 16381 })
        .thenThrows('invalid-argument', /registration_id/);
    });

    it('refuses to register the same account twice', () => {
      spec.given([registered]).when(register).thenThrows('failed-precondition');
    });
  });

  describe('when the profile is updated', () => {
    it('records the whole profile, keeping fields that were not given', () => {
      spec
        .given([
          registered,
          {
            $case: 'profileUpdated',
            value: { accountId, displayName: 'Ada', about: 'Hi', avatarRef: '', byDeviceId: 1 },
          },
        ])
        .when({ type: 'UpdateProfile', byDeviceId: 2, about: 'Busy' })
        .then([
          {
            $case: 'profileUpdated',
            value: { accountId, displayName: 'Ada', about: 'Busy', avatarRef: '', byDeviceId: 2 },
          },
        ]);
    });

    it('accepts a display name of 25 characters, counting emoji as one', () => {
      const name = 'a'.repeat(24) + '😀';
      spec
        .given([registered])
        .when({ type: 'UpdateProfile', byDeviceId: 1, displayName: name })
        .then([
          {
            $case: 'profileUpdated',
            value: { accountId, displayName: name, about: '', avatarRef: '', byDeviceId: 1 },
          },
        ]);
    });

    it('refuses a display name over 25 characters', () => {
      spec
        .given([registered])
        .when({ type: 'UpdateProfile', byDeviceId: 1, displayName: 'a'.repeat(26) })
        .thenThrows('invalid-argument', /display_name/);
    });

    it('refuses an about text over 139 characters', () => {
      spec
        .given([registered])
        .when({ type: 'UpdateProfile', byDeviceId: 1, about: 'a'.repeat(140) })
        .thenThrows('invalid-argument', /about/);
    });

    it('refuses an avatar reference over 256 characters', () => {
      spec
        .given([registered])
        .when({ type: 'UpdateProfile', byDeviceId: 1, avatarRef: 'a'.repeat(257) })
        .thenThrows('invalid-argument', /avatar_ref/);
    });

    it('records nothing when nothing changes', () => {
      spec
        .given([registered])
        .when({ type: 'UpdateProfile', byDeviceId: 1, displayName: '' })
        .thenNothingHappens();
    });

    it('refuses an account that does not exist', () => {
      spec.given([]).when({ type: 'UpdateProfile', byDeviceId: 1, about: 'x' }).thenThrows('not-found');
    });

    it('refuses a deleted account', () => {
      spec
        .given([registered, deleted])
        .when({ type: 'UpdateProfile', byDeviceId: 1, about: 'x' })
        .thenThrows('failed-precondition');
    });
  });

  describe('when the settings are updated', () => {
    it('records all settings, keeping those that were not given', () => {
      spec
        .given([registered])
        .when({
          type: 'UpdateSettings',
          byDeviceId: 3,
          lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
          backupIncludeVideos: true,
        })
        .then([
          {
            $case: 'settingsUpdated',
            value: {
              accountId,
              lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY,
              backupFrequency: BackupFrequency.BACKUP_FREQUENCY_OFF,
              backupWifiOnly: true,
              backupIncludeVideos: true,
              byDeviceId: 3,
            },
          },
        ]);
    });

    it('refuses an unspecified or unknown enum value', () => {
      spec
        .given([registered])
        .when({
          type: 'UpdateSettings',
          byDeviceId: 1,
          lastSeenVisibility: LastSeenVisibility.LAST_SEEN_VISIBILITY_UNSPECIFIED,
        })
        .thenThrows('invalid-argument', /last_seen_visibility/);
      spec
        .given([registered])
        .when({ type: 'UpdateSettings', byDeviceId: 1, backupFrequency: 99 as BackupFrequency })
        .thenThrows('invalid-argument', /backup_frequency/);
    });

    it('records nothing when nothing changes', () => {
      spec
        .given([registered])
        .when({ type: 'UpdateSettings', byDeviceId: 1, backupWifiOnly: true })
        .thenNothingHappens();
    });
  });

  describe('when the account is deleted', () => {
    it('records AccountDeleted when the primary asks', () => {
      spec
        .given([registered])
        .when({ type: 'DeleteAccount', byDeviceId: 1, byPrimary: true })
        .then([deleted]);
    });

    it('refuses a companion device', () => {
      spec
        .given([registered])
        .when({ type: 'DeleteAccount', byDeviceId: 2, byPrimary: false })
        .thenThrows('permission-denied');
    });

    it('refuses an account that is already deleted', () => {
      spec
        .given([registered, deleted])
        .when({ type: 'DeleteAccount', byDeviceId: 1, byPrimary: true })
        .thenThrows('failed-precondition');
    });
  });

  describe('when the account blocks and unblocks another account', () => {
    const block = (blockedAccountId: string, blockedAccountExists = true): AccountCommand => ({
      type: 'BlockAccount',
      byDeviceId: 2,
      blockedAccountId,
      blockedAccountExists,
    });
    const blocked = (blockedAccountId: string): AccountDomainEvent => ({
      $case: 'accountBlocked',
      value: { accountId, blockedAccountId, byDeviceId: 2 },
    });
    const unblock: AccountCommand = { type: 'UnblockAccount', byDeviceId: 1, blockedAccountId: 'b1' };
    const unblocked: AccountDomainEvent = {
      $case: 'accountUnblocked',
      value: { accountId, unblockedAccountId: 'b1', byDeviceId: 1 },
    };

    it('records AccountBlocked from any of its devices', () => {
      spec
        .given([registered])
        .when(block('b1'))
        .then([blocked('b1')]);
    });

    it('records nothing when the account is blocked already', () => {
      spec
        .given([registered, blocked('b1')])
        .when(block('b1'))
        .thenNothingHappens();
    });

    it('refuses to block itself, no account or an id too long', () => {
      spec
        .given([registered])
        .when(block(accountId))
        .thenThrows('invalid-argument', /blocked_account_id/);
      spec
        .given([registered])
        .when(block(''))
        .thenThrows('invalid-argument', /blocked_account_id/);
      spec
        .given([registered])
        .when(block('x'.repeat(65)))
        .thenThrows('invalid-argument', /blocked_account_id/);
    });

    it('refuses an account that does not exist', () => {
      spec.given([registered]).when(block('b1', false)).thenThrows('not-found');
    });

    it(`refuses to block more than ${BLOCKED_ACCOUNTS_LIMIT} accounts`, () => {
      const full = Array.from({ length: BLOCKED_ACCOUNTS_LIMIT }, (_, index) => blocked(`b${index}`));
      spec
        .given([registered, ...full])
        .when(block('one-more'))
        .thenThrows('failed-precondition', /1000/);
      spec
        .given([
          registered,
          ...full,
          { ...unblocked, value: { ...unblocked.value, unblockedAccountId: 'b7' } },
        ])
        .when(block('one-more'))
        .then([blocked('one-more')]);
    });

    it('records AccountUnblocked for a blocked account, and then it may be blocked again', () => {
      spec
        .given([registered, blocked('b1')])
        .when(unblock)
        .then([unblocked]);
      spec
        .given([registered, blocked('b1'), unblocked])
        .when(block('b1'))
        .then([blocked('b1')]);
    });

    it('records nothing when unblocking an account that is not blocked', () => {
      spec
        .given([registered, blocked('b2')])
        .when(unblock)
        .thenNothingHappens();
    });

    it('refuses a deleted account', () => {
      spec.given([registered, deleted]).when(block('b1')).thenThrows('failed-precondition');
      spec
        .given([registered, blocked('b1'), deleted])
        .when(unblock)
        .thenThrows('failed-precondition');
    });
  });
});
