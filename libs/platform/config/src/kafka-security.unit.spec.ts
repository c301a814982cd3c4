import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config';
import { ConfigError } from './config-error';
import { loadKafkaSecurity } from './kafka-security';

const dir = mkdtempSync(join(tmpdir(), 'tandem-kafka-security-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA = '-----BEGIN CERTIFICATE-----\nTUlJQ2Fr\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nTUlJRXZR\n-----END PRIVATE KEY-----\n';
const caFile = file('ca.crt', CA);
const certFile = file('client.crt', CA);
const keyFile = file('client.key', KEY);
const passwordFile = file('password', 's3cret\n');
const tokenFile = file('token', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0YW5kZW0ifQ.\n');

/** The one-line message loadKafkaSecurity throws for env, or fails the test when it throws nothing. */
function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadKafkaSecurity(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('Kafka TLS and SASL settings', () => {
  it('are PLAINTEXT when nothing is set, or KAFKA_SSL=false', () => {
    expect(loadKafkaSecurity({})).toEqual({ tls: undefined, sasl: undefined });
    expect(loadKafkaSecurity({ KAFKA_SSL: 'false', KAFKA_SASL_MECHANISM: '' })).toEqual({
      tls: undefined,
      sasl: undefined,
    });
  });

  it("use TLS with the system's CAs, or with a CA file and a client certificate", () => {
    expect(loadKafkaSecurity({ KAFKA_SSL: 'true' })).toEqual({
      tls: { ca: undefined, clientCertificate: undefined },
      sasl: undefined,
    });
    expect(
      loadKafkaSecurity({
        KAFKA_SSL: 'TRUE',
        KAFKA_SSL_CA_FILE: caFile,
        KAFKA_SSL_CERT_FILE: certFile,
        KAFKA_SSL_KEY_FILE: keyFile,
      }),
    ).toEqual({ tls: { ca: CA, clientCertificate: { cert: CA, key: KEY } }, sasl: undefined });
  });

  it('take SCRAM and PLAIN credentials, the password inline or from a file (one trailing newline dropped)', () => {
    expect(
      loadKafkaSecurity({
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: caFile,
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: 'tandem',
        KAFKA_SASL_PASSWORD_FILE: passwordFile,
      }),
    ).toEqual({
      tls: { ca: CA, clientCertificate: undefined },
      sasl: { mechanism: 'scram-sha-512', username: 'tandem', password: 's3cret' },
    });
    expect(
      loadKafkaSecurity({
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        KAFKA_SASL_USERNAME: 'tandem',
        KAFKA_SASL_PASSWORD: 'p w',
      }).sasl,
    ).toEqual({ mechanism: 'scram-sha-256', username: 'tandem', password: 'p w' });
    expect(
      loadKafkaSecurity({
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SASL_USERNAME: 'key',
        KAFKA_SASL_PASSWORD: 'secret',
      }).sasl,
    ).toEqual({ mechanism: 'plain', username: 'key', password: 'secret' });
  });

  it('take an OAUTHBEARER token file over TLS', () => {
    expect(
      loadKafkaSecurity({
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile,
      }).sasl,
    ).toEqual({ mechanism: 'oauthbearer', tokenFile });
  });

  it('refuse combinations that cannot work, naming the variable', () => {
    expect(refusal({ KAFKA_SSL: 'yes' })).toBe('KAFKA_SSL must be true or false, got "yes"');
    expect(refusal({ KAFKA_SSL_CA_FILE: caFile })).toBe('KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true');
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: certFile })).toMatch(
      /^KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together/,
    );
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: join(dir, 'missing.crt') })).toBe(
      `KAFKA_SSL_CA_FILE: cannot read ${join(dir, 'missing.crt')} (ENOENT)`,
    );
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: keyFile })).toBe(
      `KAFKA_SSL_CA_FILE: ${keyFile} holds no PEM certificate`,
    );
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: certFile, KAFKA_SSL_KEY_FILE: certFile })).toBe(
      `KAFKA_SSL_KEY_FILE: ${certFile} holds no PEM private key`,
    );
    const encrypted = file(
      'encrypted.key',
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nTUlJ\n-----END ENCRYPTED PRIVATE KEY-----\n',
    );
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: certFile, KAFKA_SSL_KEY_FILE: encrypted })).toBe(
      `KAFKA_SSL_KEY_FILE: ${encrypted} is encrypted; give the key unencrypted (a mounted Secret)`,
    );
    expect(refusal({ KAFKA_SASL_USERNAME: 'tandem', KAFKA_SASL_PASSWORD: 'x' })).toBe(
      'KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not',
    );
    expect(refusal({ KAFKA_SASL_MECHANISM: 'gssapi' })).toBe(
      'KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512, oauthbearer, got "gssapi"',
    );
    expect(
      refusal({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }),
    ).toBe('KAFKA_SASL_MECHANISM=plain would send the password unencrypted: set KAFKA_SSL=true');
    expect(refusal({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_PASSWORD: 'p' })).toBe(
      'KAFKA_SASL_MECHANISM=scram-sha-512 needs KAFKA_SASL_USERNAME',
    );
    expect(refusal({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u' })).toBe(
      'KAFKA_SASL_MECHANISM=scram-sha-512 needs exactly one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE',
    );
    expect(
      refusal({
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
        KAFKA_SASL_PASSWORD_FILE: passwordFile,
      }),
    ).toMatch(/needs exactly one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE$/);
    expect(
      refusal({
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD_FILE: file('empty', '\n'),
      }),
    ).toBe(`KAFKA_SASL_PASSWORD_FILE: ${join(dir, 'empty')} is empty`);
    expect(
      refusal({ KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile }),
    ).toBe('KAFKA_SASL_MECHANISM=oauthbearer would send the token unencrypted: set KAFKA_SSL=true');
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'oauthbearer' })).toBe(
      'KAFKA_SASL_MECHANISM=oauthbearer needs KAFKA_SASL_OAUTHBEARER_TOKEN_FILE',
    );
    expect(
      refusal({
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile,
        KAFKA_SASL_USERNAME: 'u',
      }),
    ).toBe('KAFKA_SASL_USERNAME is not used with KAFKA_SASL_MECHANISM=oauthbearer');
    expect(
      refusal({
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile,
      }),
    ).toBe('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is not used with KAFKA_SASL_MECHANISM=scram-sha-256');
  });

  it('are part of the distributed configuration, and ignored in embedded mode', () => {
    const scram = {
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    };
    expect(
      loadConfig({ ...scram, KAFKA_BROKERS: 'k:9094', MONGODB_URI: 'mongodb://m' }).kafkaSecurity,
    ).toEqual({ tls: undefined, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } });
    expect(loadConfig({ KAFKA_SSL_CA_FILE: join(dir, 'missing.crt') }).kafkaSecurity).toEqual({
      tls: undefined,
      sasl: undefined,
    });
    expect(() =>
      loadConfig({ KAFKA_BROKERS: 'k:9094', MONGODB_URI: 'mongodb://m', KAFKA_SSL_CA_FILE: caFile }),
    ).toThrow('KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true');
  });
});
