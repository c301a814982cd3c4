import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TandemConfig } from '@tandem/config';

export interface TokenKeys {
  /** Signs tokens and challenges; only the linking service has it. */
  readonly privateKey: KeyObject | undefined;
  /** Verifies tokens; every service has it. */
  readonly publicKey: KeyObject;
}

/** The generated key of a setup without configured keys (embedded mode, local development). */
export const generatedKeyPath = (dataDir: string): string => join(dataDir, 'keys', 'token-signing-key.pem');

/** Reads the key file, or creates it atomically so processes sharing the data folder agree. */
function generatedPrivateKey(dataDir: string): KeyObject {
  const path = generatedKeyPath(dataDir);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, pem, { mode: 0o600 });
    try {
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temporary, { force: true });
    }
  }
  return createPrivateKey(readFileSync(path, 'utf8'));
}

/**
 * The Ed25519 keys for device tokens: TANDEM_TOKEN_PRIVATE_KEY / TANDEM_TOKEN_PUBLIC_KEY when set
 * (Kubernetes Secrets), else a key generated once into the data folder.
 */
export function loadTokenKeys(config: TandemConfig): TokenKeys {
  const { privateKeyPem, publicKeyPem } = config.tokens;
  if (privateKeyPem) {
    const privateKey = createPrivateKey(privateKeyPem);
    return {
      privateKey,
      publicKey: publicKeyPem ? createPublicKey(publicKeyPem) : createPublicKey(privateKey),
    };
  }
  if (publicKeyPem) return { privateKey: undefined, publicKey: createPublicKey(publicKeyPem) };
  const privateKey = generatedPrivateKey(config.dataDir);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
