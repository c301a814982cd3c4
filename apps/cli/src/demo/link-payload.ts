/** What a companion's QR code tells the primary: the link session and the companion's key. */
export interface LinkPayload {
  readonly sessionId: string;
  /** The companion's raw 32-byte Ed25519 public identity key. */
  readonly identityKey: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Reads a scanned QR payload, `tandem://link?v=1&s=<session id>&k=<identity key, base64url>`,
 * refusing anything else with a reason a person can act on.
 */
export function parseLinkPayload(text: string): LinkPayload {
  const payload = text.trim();
  const refuse = (why: string) => new Error(`not a Tandem link QR payload (${why}): ${payload}`);
  let url: URL;
  try {
    url = new URL(payload);
  } catch {
    throw refuse('not a URI');
  }
  if (url.protocol !== 'tandem:' || url.host !== 'link') throw refuse('expected tandem://link?...');
  const version = url.searchParams.get('v');
  if (version !== '1') throw refuse(`version ${version ?? 'missing'}, this CLI reads version 1`);
  const sessionId = url.searchParams.get('s');
  if (!sessionId) throw refuse('no session id "s"');
  const key = url.searchParams.get('k') ?? '';
  if (!BASE64URL.test(key)) throw refuse('the key "k" is not base64url');
  const identityKey = Buffer.from(key, 'base64url');
  if (identityKey.length !== 32) throw refuse(`the key "k" has ${identityKey.length} bytes, not 32`);
  return { sessionId, identityKey };
}
