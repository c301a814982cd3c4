import { describe, expect, it } from 'vitest';
import { newDeviceKeys, privateKeyToPem, rawPublicKey } from './device-keys';
import { checkProfileName, parseProfile, type Profile, serializeProfile } from './profiles';

const alice: Profile = {
  name: 'alice',
  server: '127.0.0.1:50051',
  accountId: '0b3e6c1c-4f0e-4c57-9b8e-5d1d1f1a2b3c',
  deviceId: 1,
  primary: true,
  phoneNumber: '+4915112345678',
  keys: newDeviceKeys(),
  lastSequence: 42,
};

describe('storing a demo profile', () => {
  it('reads back what it wrote, keys included', () => {
    const read = parseProfile(serializeProfile(alice));

    expect({ ...read, keys: undefined }).toEqual({ ...alice, keys: undefined });
    expect(read.keys.registrationId).toBe(alice.keys.registrationId);
    expect(read.keys.identityKey.equals(alice.keys.identityKey)).toBe(true);
    expect(rawPublicKey(read.keys.privateKey).equals(alice.keys.identityKey)).toBe(true);
  });

  it('writes the keys as a person can read them: PEM and base64', () => {
    const json = JSON.parse(serializeProfile(alice)) as Record<string, unknown>;

    expect(json['privateKey']).toBe(privateKeyToPem(alice.keys.privateKey));
    expect(json['privateKey']).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(json['identityKey']).toBe(alice.keys.identityKey.toString('base64'));
  });

  it('refuses a file whose public key is not that of its private key', () => {
    const json = JSON.parse(serializeProfile(alice)) as Record<string, unknown>;
    json['identityKey'] = newDeviceKeys().identityKey.toString('base64');

    expect(() => parseProfile(JSON.stringify(json))).toThrow(/not the public key/);
  });

  it.each([
    ['of another format', { format: 'something/2' }, /not a tandem-demo-profile\/1 file/],
    ['without an account', { accountId: undefined }, /"accountId"/],
    ['with a negative sequence', { lastSequence: -1 }, /"lastSequence"/],
  ])('refuses a file %s, naming what is wrong', (_case, change, reason) => {
    const json = { ...(JSON.parse(serializeProfile(alice)) as object), ...change };

    expect(() => parseProfile(JSON.stringify(json))).toThrow(reason);
  });

  it('accepts only names that are safe as file names', () => {
    expect(checkProfileName('alice-laptop.2_b')).toBe('alice-laptop.2_b');
    for (const name of ['', '../alice', 'a b', '.hidden', 'x'.repeat(65)]) {
      expect(() => checkProfileName(name)).toThrow(/not a profile name/);
    }
  });
});
