import { describe, expect, it } from 'vitest';
import { parseLinkPayload } from './link-payload';

const key = Buffer.alloc(32, 0xfb);
const payload = (query: string) => `tandem://link?${query}`;

describe('reading a scanned link QR payload', () => {
  it('gives the session id and the companion key of a payload as BeginLink builds it', () => {
    const parsed = parseLinkPayload(payload(`v=1&s=4f7c-session&k=${key.toString('base64url')}`));

    expect(parsed.sessionId).toBe('4f7c-session');
    expect(parsed.identityKey.equals(key)).toBe(true);
  });

  it('accepts the payload with the whitespace a copy and paste brings along', () => {
    expect(parseLinkPayload(`  ${payload(`v=1&s=s1&k=${key.toString('base64url')}`)}\n`).sessionId).toBe(
      's1',
    );
  });

  it.each([
    ['not a URI', 'hello', /not a URI/],
    ['another scheme', `https://link?v=1&s=s1&k=${key.toString('base64url')}`, /tandem:\/\/link/],
    ['another action', `tandem://pay?v=1&s=s1&k=${key.toString('base64url')}`, /tandem:\/\/link/],
    ['another version', payload(`v=2&s=s1&k=${key.toString('base64url')}`), /version 2/],
    ['no session', payload(`v=1&k=${key.toString('base64url')}`), /no session id/],
    ['a key that is not base64url', payload(`v=1&s=s1&k=${key.toString('base64')}+/`), /not base64url/],
    [
      'a key of the wrong length',
      payload(`v=1&s=s1&k=${Buffer.alloc(16).toString('base64url')}`),
      /16 bytes/,
    ],
  ])('refuses %s, saying why', (_case, text, reason) => {
    expect(() => parseLinkPayload(text)).toThrow(reason);
  });
});
