import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type DeviceKeys, privateKeyFromPem, privateKeyToPem, rawPublicKey } from './device-keys';

/** One demo device as the CLI remembers it between commands: who it is and how far it read. */
export interface Profile {
  /** The profile's name, also its file name: `<name>.json`. */
  readonly name: string;
  /** The Tandem gRPC address the device belongs to, host:port. */
  readonly server: string;
  readonly accountId: string;
  readonly deviceId: number;
  /** Whether the device is its account's primary (it registered) rather than a linked companion. */
  readonly primary: boolean;
  /** The number the primary registered; empty for a companion. */
  readonly phoneNumber: string;
  readonly keys: DeviceKeys;
  /** The last inbox sequence number `receive` processed: it resumes after it. */
  readonly lastSequence: number;
}

const FORMAT = 'tandem-demo-profile/1';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Profile names become file names: letters, digits, '.', '_' and '-', at most 64. */
export function checkProfileName(name: string): string {
  if (!NAME.test(name)) {
    throw new Error(`"${name}" is not a profile name: use letters, digits, '.', '_' or '-' (at most 64)`);
  }
  return name;
}

/** A profile as its JSON file holds it: keys as PEM and base64, so a person can read the file. */
export function serializeProfile(profile: Profile): string {
  return `${JSON.stringify(
    {
      format: FORMAT,
      name: profile.name,
      server: profile.server,
      accountId: profile.accountId,
      deviceId: profile.deviceId,
      primary: profile.primary,
      phoneNumber: profile.phoneNumber,
      registrationId: profile.keys.registrationId,
      identityKey: profile.keys.identityKey.toString('base64'),
      privateKey: privateKeyToPem(profile.keys.privateKey),
      lastSequence: profile.lastSequence,
    },
    null,
    2,
  )}\n`;
}

export function parseProfile(text: string): Profile {
  const json = JSON.parse(text) as Record<string, unknown>;
  if (json['format'] !== FORMAT) throw new Error(`not a ${FORMAT} file`);
  const field = <T>(name: string, valid: (value: unknown) => value is T): T => {
    const value = json[name];
    if (!valid(value)) throw new Error(`the profile's "${name}" is missing or invalid`);
    return value;
  };
  const isString = (value: unknown): value is string => typeof value === 'string';
  const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
  const privateKey = privateKeyFromPem(field('privateKey', isString));
  const identityKey = Buffer.from(field('identityKey', isString), 'base64');
  if (!identityKey.equals(rawPublicKey(privateKey))) {
    throw new Error(`the profile's identityKey is not the public key of its privateKey`);
  }
  return {
    name: checkProfileName(field('name', isString)),
    server: field('server', isString),
    accountId: field('accountId', isString),
    deviceId: field('deviceId', isCount),
    primary: field('primary', (value): value is boolean => typeof value === 'boolean'),
    phoneNumber: field('phoneNumber', isString),
    keys: { identityKey, privateKey, registrationId: field('registrationId', isCount) },
    lastSequence: field('lastSequence', isCount),
  };
}

/** The profiles of one folder, a JSON file each, readable only by their owner (they hold private keys). */
/** A message a device received, as the demo keeps it for a history bundle. */
export interface HistoryMessage {
  readonly id: string;
  /** `<account>/<device>` of the sender. */
  readonly from: string;
  readonly text: string;
}

/** How many received messages a profile keeps for a new device's history. */
export const HISTORY_KEPT = 100;

export class ProfileStore {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = resolve(directory);
  }

  pathOf(name: string): string {
    return join(this.directory, `${checkProfileName(name)}.json`);
  }

  async load(name: string): Promise<Profile> {
    const path = this.pathOf(name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(`no profile "${name}" in ${this.directory} (register or link it first)`);
      }
      throw error;
    }
    try {
      return parseProfile(text);
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`);
    }
  }

  /** Fails when the name is taken, so that no command overwrites a device's keys. */
  async ensureFree(name: string): Promise<void> {
    const names = await this.names();
    if (names.includes(checkProfileName(name))) {
      throw new Error(`a profile "${name}" exists already (${this.pathOf(name)}): choose another --name`);
    }
  }

  /** Writes a profile whole, through a temporary file and a rename: never half a file. */
  async save(profile: Profile): Promise<void> {
    const path = this.pathOf(profile.name);
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, serializeProfile(profile), { mode: 0o600 });
    await rename(temporary, path);
  }

  async names(): Promise<string[]> {
    try {
      const files = await readdir(this.directory);
      return files
        .filter((file) => file.endsWith('.json'))
        .map((file) => file.slice(0, -'.json'.length))
        .filter((name) => NAME.test(name))
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** The messages the profile's device received, oldest first (the last HISTORY_KEPT). */
  async loadHistory(name: string): Promise<HistoryMessage[]> {
    try {
      return JSON.parse(await readFile(this.historyPathOf(name), 'utf8')) as HistoryMessage[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Keeps received messages for the history a new device gets; each id once. */
  async addHistory(name: string, messages: readonly HistoryMessage[]): Promise<void> {
    const known = await this.loadHistory(name);
    const ids = new Set(known.map((message) => message.id));
    const all = [...known, ...messages.filter((message) => !ids.has(message.id))].slice(-HISTORY_KEPT);
    const path = this.historyPathOf(name);
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(all), { mode: 0o600 });
    await rename(temporary, path);
  }

  private historyPathOf(name: string): string {
    return join(this.directory, `${checkProfileName(name)}.history`);
  }

  /** Every readable profile, for naming the accounts and devices a command prints. */
  async loadAll(): Promise<Profile[]> {
    const profiles = await Promise.all(
      (await this.names()).map((name) => this.load(name).catch(() => undefined)),
    );
    return profiles.filter((profile) => profile !== undefined);
  }
}
