import { generateKeyPairSync } from 'node:crypto';
import { isDomainError } from '@tandem/decider';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeviceTokens } from './device-tokens';

const keys = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey };
};

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(isDomainError(error) && error.kind).toBe('unauthenticated');
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('device tokens', () => {
  const device = { accountId: 'acc-1', deviceId: 2 };

  afterEach(() => {
    vi.useRealTimers();
  });

  it('verifies a token it issued and names the device', async () => {
    const tokens = new DeviceTokens(keys(), 60);
    const { token, expiresAt } = await tokens.issueToken(device);
    expect(expiresAt.getTime()).toBeGreaterThan(Date.now());
    await expect(tokens.verifyToken(token)).resolves.toEqual(device);
  });

  it('refuses an expired token', async () => {
    const tokens = new DeviceTokens(keys(), 60);
    const { token } = await tokens.issueToken(device, new Date(Date.now() - 120_000));
    expect(await refusal(tokens.verifyToken(token))).toMatch(/expired/);
  });

  it('refuses a remembered token once it expires', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokens = new DeviceTokens(keys(), 60);
    const { token } = await tokens.issueToken(device);
    await expect(tokens.verifyToken(token)).resolves.toEqual(device);
    await expect(tokens.verifyToken(token)).resolves.toEqual(device);

    vi.setSystemTime(Date.now() + 61_000);
    expect(await refusal(tokens.verifyToken(token))).toMatch(/expired/);
  });

  it('refuses a token signed with another key, and one verified with only a public key cannot be issued', async () => {
    const other = new DeviceTokens(keys(), 60);
    const { token } = await other.issueToken(device);
    const ours = keys();
    await refusal(new DeviceTokens(ours, 60).verifyToken(token));
    const verifyOnly = new DeviceTokens({ privateKey: undefined, publicKey: ours.publicKey }, 60);
    await expect(verifyOnly.issueToken(device)).rejects.toThrow(/no token signing key/);
  });

  it('refuses a challenge used as a token, and a token used as a challenge', async () => {
    const tokens = new DeviceTokens(keys(), 60);
    const { challenge } = await tokens.issueChallenge(device);
    await refusal(tokens.verifyToken(challenge.toString('utf8')));
    const { token } = await tokens.issueToken(device);
    await refusal(tokens.verifyChallenge(Buffer.from(token), device));
  });

  it('accepts a challenge only for the device it was issued to, and only before it expires', async () => {
    const tokens = new DeviceTokens(keys(), 60, 30);
    const { challenge } = await tokens.issueChallenge(device);
    await expect(tokens.verifyChallenge(challenge, device)).resolves.toBeUndefined();
    expect(await refusal(tokens.verifyChallenge(challenge, { ...device, deviceId: 3 }))).toMatch(
      /another device/,
    );
    const old = await tokens.issueChallenge(device, new Date(Date.now() - 60_000));
    expect(await refusal(tokens.verifyChallenge(old.challenge, device))).toMatch(/expired/);
  });
});
