import { randomBytes } from 'node:crypto';
import { DomainError } from '@tandem/decider';
import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { TokenKeys } from './token-keys';

/** The device a request comes from. */
export interface DevicePrincipal {
  readonly accountId: string;
  readonly deviceId: number;
}

const ISSUER = 'tandem';
const TOKEN_AUDIENCE = 'tandem-device';
const CHALLENGE_AUDIENCE = 'tandem-sign-in-challenge';
const ALGORITHM = 'EdDSA';

/** How many verified tokens are remembered, so a device's every request is not a signature check. */
const VERIFIED_TOKENS = 100_000;

const unauthenticated = (message: string): DomainError => new DomainError('unauthenticated', message);

/**
 * Device tokens and sign-in challenges, both JWTs signed with the service's Ed25519 key.
 * A challenge names the device and expires quickly; a token is short-lived and names the device.
 * Neither proves the device is still linked: the authenticator checks that against its device
 * directory on every request. A token whose signature was checked is remembered until it expires.
 */
export class DeviceTokens {
  private readonly verified = new LRUCache<string, DevicePrincipal & { readonly expiresAtMs: number }>({
    max: VERIFIED_TOKENS,
  });

  constructor(
    private readonly keys: TokenKeys,
    private readonly ttlSeconds: number,
    private readonly challengeTtlSeconds = 60,
  ) {}

  private signingKey() {
    if (!this.keys.privateKey) throw new Error('this service has no token signing key');
    return this.keys.privateKey;
  }

  async issueToken(
    principal: DevicePrincipal,
    now = new Date(),
  ): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(now.getTime() + this.ttlSeconds * 1000);
    const token = await new SignJWT({ acc: principal.accountId, dev: principal.deviceId })
      .setProtectedHeader({ alg: ALGORITHM })
      .setIssuer(ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.signingKey());
    return { token, expiresAt };
  }

  async verifyToken(token: string): Promise<DevicePrincipal> {
    const known = this.verified.get(token);
    if (known && known.expiresAtMs > Date.now())
      return { accountId: known.accountId, deviceId: known.deviceId };
    const payload = await this.verify(token, TOKEN_AUDIENCE, 'token');
    const principal = principalFrom(payload);
    if (typeof payload.exp === 'number')
      this.verified.set(token, { ...principal, expiresAtMs: payload.exp * 1000 });
    return principal;
  }

  async issueChallenge(
    principal: DevicePrincipal,
    now = new Date(),
  ): Promise<{ challenge: Buffer; expiresAt: Date }> {
    const expiresAt = new Date(now.getTime() + this.challengeTtlSeconds * 1000);
    const jwt = await new SignJWT({
      acc: principal.accountId,
      dev: principal.deviceId,
      nonce: randomBytes(16).toString('base64url'),
    })
      .setProtectedHeader({ alg: ALGORITHM })
      .setIssuer(ISSUER)
      .setAudience(CHALLENGE_AUDIENCE)
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.signingKey());
    return { challenge: Buffer.from(jwt, 'utf8'), expiresAt };
  }

  /** Checks that the challenge is ours, unexpired, and for this device. */
  async verifyChallenge(challenge: Uint8Array, principal: DevicePrincipal): Promise<void> {
    const payload = await this.verify(
      Buffer.from(challenge).toString('utf8'),
      CHALLENGE_AUDIENCE,
      'challenge',
    );
    const named = principalFrom(payload);
    if (named.accountId !== principal.accountId || named.deviceId !== principal.deviceId) {
      throw unauthenticated('challenge was issued for another device');
    }
  }

  private async verify(jwt: string, audience: string, what: string) {
    try {
      const { payload } = await jwtVerify(jwt, this.keys.publicKey, {
        issuer: ISSUER,
        audience,
        algorithms: [ALGORITHM],
      });
      return payload;
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw unauthenticated(`${what} expired`);
      throw unauthenticated(`invalid ${what}`);
    }
  }
}

function principalFrom(payload: Record<string, unknown>): DevicePrincipal {
  const { acc, dev } = payload;
  if (typeof acc !== 'string' || typeof dev !== 'number') throw unauthenticated('invalid token claims');
  return { accountId: acc, deviceId: dev };
}
