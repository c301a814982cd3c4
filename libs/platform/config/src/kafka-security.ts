import { readFileSync } from 'node:fs';
import { ConfigError } from './config-error';

/**
 * How Tandem's Kafka clients (every service, the outbox relay, the CLI) authenticate and encrypt,
 * from the environment; the topics Job reads the same variables (k8s/base/topics/create-topics.sh).
 * Nothing set: PLAINTEXT, as before. Files are read once, at start, except an OAUTHBEARER token,
 * which is read again at every (re)authentication so that whatever renews it is followed.
 */
export interface KafkaSecurity {
  /** TLS to the brokers (SSL or SASL_SSL); none: PLAINTEXT or SASL_PLAINTEXT. */
  readonly tls: KafkaTls | undefined;
  readonly sasl: KafkaSasl | undefined;
}

export interface KafkaTls {
  /** PEM certificates the brokers' certificates must chain to; Node's bundled CAs when unset. */
  readonly ca: string | undefined;
  /** The client's own PEM certificate and key (mutual TLS), both or neither. */
  readonly clientCertificate: { readonly cert: string; readonly key: string } | undefined;
}

export type KafkaSasl =
  | {
      readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
      readonly username: string;
      readonly password: string;
    }
  | {
      readonly mechanism: 'oauthbearer';
      /** A file holding the current token (a JWT), kept fresh by something else. */
      readonly tokenFile: string;
    };

export const PLAINTEXT: KafkaSecurity = { tls: undefined, sasl: undefined };

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

const set = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value ? value : undefined;
};

function readSetting(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`${name}: cannot read ${path} (${reason})`);
  }
}

function readPem(name: string, path: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  const text = readSetting(name, path);
  // PRIVATE KEY also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY" headers.
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) {
    throw new ConfigError(`${name}: ${path} holds no PEM ${kind.toLowerCase()}`);
  }
  if (kind === 'PRIVATE KEY' && /ENCRYPTED/.test(text)) {
    throw new ConfigError(`${name}: ${path} is encrypted; give the key unencrypted (a mounted Secret)`);
  }
  return text;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = set(env, name)?.toLowerCase();
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function loadTls(env: NodeJS.ProcessEnv): KafkaTls | undefined {
  const caFile = set(env, 'KAFKA_SSL_CA_FILE');
  const certFile = set(env, 'KAFKA_SSL_CERT_FILE');
  const keyFile = set(env, 'KAFKA_SSL_KEY_FILE');
  if (!flag(env, 'KAFKA_SSL')) {
    const stray = [
      ['KAFKA_SSL_CA_FILE', caFile],
      ['KAFKA_SSL_CERT_FILE', certFile],
      ['KAFKA_SSL_KEY_FILE', keyFile],
    ].find(([, value]) => value !== undefined);
    if (stray) throw new ConfigError(`${stray[0]} is set but KAFKA_SSL is not true`);
    return undefined;
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together: set both for a client certificate, or neither',
    );
  }
  return {
    ca: caFile === undefined ? undefined : readPem('KAFKA_SSL_CA_FILE', caFile, 'CERTIFICATE'),
    clientCertificate:
      certFile === undefined || keyFile === undefined
        ? undefined
        : {
            cert: readPem('KAFKA_SSL_CERT_FILE', certFile, 'CERTIFICATE'),
            key: readPem('KAFKA_SSL_KEY_FILE', keyFile, 'PRIVATE KEY'),
          },
  };
}

function loadSasl(env: NodeJS.ProcessEnv, tls: boolean): KafkaSasl | undefined {
  const raw = set(env, 'KAFKA_SASL_MECHANISM');
  const username = set(env, 'KAFKA_SASL_USERNAME');
  const password = env['KAFKA_SASL_PASSWORD'] || undefined;
  const passwordFile = set(env, 'KAFKA_SASL_PASSWORD_FILE');
  const tokenFile = set(env, 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE');
  if (raw === undefined) {
    const stray = [
      ['KAFKA_SASL_USERNAME', username],
      ['KAFKA_SASL_PASSWORD', password],
      ['KAFKA_SASL_PASSWORD_FILE', passwordFile],
      ['KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', tokenFile],
    ].find(([, value]) => value !== undefined);
    if (stray) throw new ConfigError(`${stray[0]} is set but KAFKA_SASL_MECHANISM is not`);
    return undefined;
  }
  const mechanism = MECHANISMS.find((name) => name === raw.toLowerCase());
  if (mechanism === undefined) {
    throw new ConfigError(`KAFKA_SASL_MECHANISM must be one of ${MECHANISMS.join(', ')}, got "${raw}"`);
  }
  if (!tls && (mechanism === 'plain' || mechanism === 'oauthbearer')) {
    throw new ConfigError(
      `KAFKA_SASL_MECHANISM=${mechanism} would send the ${mechanism === 'plain' ? 'password' : 'token'} unencrypted: set KAFKA_SSL=true`,
    );
  }
  if (mechanism === 'oauthbearer') {
    const credentials = [
      ['KAFKA_SASL_USERNAME', username],
      ['KAFKA_SASL_PASSWORD', password],
      ['KAFKA_SASL_PASSWORD_FILE', passwordFile],
    ].find(([, value]) => value !== undefined);
    if (credentials) {
      throw new ConfigError(`${credentials[0]} is not used with KAFKA_SASL_MECHANISM=oauthbearer`);
    }
    if (tokenFile === undefined) {
      throw new ConfigError('KAFKA_SASL_MECHANISM=oauthbearer needs KAFKA_SASL_OAUTHBEARER_TOKEN_FILE');
    }
    readSetting('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', tokenFile);
    return { mechanism, tokenFile };
  }
  if (tokenFile !== undefined) {
    throw new ConfigError(
      `KAFKA_SASL_OAUTHBEARER_TOKEN_FILE is not used with KAFKA_SASL_MECHANISM=${mechanism}`,
    );
  }
  if (username === undefined) {
    throw new ConfigError(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME`);
  }
  if ((password === undefined) === (passwordFile === undefined)) {
    throw new ConfigError(
      `KAFKA_SASL_MECHANISM=${mechanism} needs exactly one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE`,
    );
  }
  const secret =
    password ?? readSetting('KAFKA_SASL_PASSWORD_FILE', passwordFile as string).replace(/\r?\n$/, '');
  if (secret === '') throw new ConfigError(`KAFKA_SASL_PASSWORD_FILE: ${passwordFile} is empty`);
  return { mechanism, username, password: secret };
}

/**
 * Reads KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE, KAFKA_SASL_MECHANISM,
 * KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, and
 * KAFKA_SASL_OAUTHBEARER_TOKEN_FILE (README, "Configuration"). A combination that cannot work, or
 * a file that cannot be read, throws a one-line error naming the variable.
 */
export function loadKafkaSecurity(env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  const tls = loadTls(env);
  return { tls, sasl: loadSasl(env, tls !== undefined) };
}
