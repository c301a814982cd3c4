import { status } from '@grpc/grpc-js';
import { DevicePlatform } from '@tandem/contracts/tandem/linking/v1/device_list';
import type { LinkApproved, WatchLinkResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import { toString as qrCode } from 'qrcode';
import { type DeviceKeys, newDeviceKeys, watchProof } from './device-keys';
import { DeviceSession } from './device-session';
import { receiveHistory } from './history';
import type { ProfileStore } from './profiles';
import { DEFAULT_SERVER, hasStatus, TandemClient } from './tandem-client';

export interface LinkOptions {
  readonly name: string;
  readonly deviceName?: string;
  /** How many QR codes to show before giving up: each expires after about a minute. */
  readonly attempts: number;
  readonly server?: string;
  /** How long to wait, once linked, for the history bundle the primary shares; 0: do not wait. */
  readonly historyWaitSeconds: number;
}

/**
 * Links this machine as a companion of an account, the way a desktop app does: it shows a QR code
 * for a link session and waits; the primary scans it (`tandem demo approve`), and the companion
 * signs in with its new device id. An expired code is replaced by a new one. Then it waits for the
 * history the primary shares (a history bundle), downloads it and prints it.
 */
export async function link(store: ProfileStore, options: LinkOptions): Promise<void> {
  await store.ensureFree(options.name);
  const server = options.server ?? DEFAULT_SERVER;
  const keys = newDeviceKeys();
  const client = new TandemClient(server);
  try {
    for (let attempt = 1; attempt <= options.attempts; attempt++) {
      const session = await client.linking
        .call('beginLink', {
          identityKey: keys.identityKey,
          registrationId: keys.registrationId,
          name: options.deviceName ?? options.name,
          platform: DevicePlatform.DEVICE_PLATFORM_DESKTOP,
        })
        .catch((error: unknown) => {
          if (hasStatus(error, status.RESOURCE_EXHAUSTED)) {
            throw new Error(
              `${server} refuses more link sessions from this address for now: try again later`,
            );
          }
          throw error;
        });
      const seconds = session.expiresAt
        ? Math.max(0, Math.round((session.expiresAt.getTime() - Date.now()) / 1000))
        : undefined;
      console.log(await qrCode(session.qrPayload, { type: 'terminal', small: true }));
      console.log(session.qrPayload);
      console.log('');
      console.log('Scan it with the primary, i.e. run there:');
      console.log(`  tandem demo approve --name <primary profile> '${session.qrPayload}'`);
      console.log(
        `Waiting for approval${seconds === undefined ? '' : ` (the code expires in ${seconds} s)`}, attempt ${attempt} of ${options.attempts} ...`,
      );

      const approved = await watchLink(client, keys, session.sessionId);
      if (!approved) {
        console.log(
          attempt < options.attempts ? 'The QR code expired; here is a new one.' : 'The QR code expired.',
        );
        continue;
      }
      const signedIn = await DeviceSession.signIn(client, { ...approved, keys }, 15_000);
      await store.save({
        name: options.name,
        server,
        accountId: approved.accountId,
        deviceId: approved.deviceId,
        primary: false,
        phoneNumber: '',
        keys,
        lastSequence: 0,
      });
      console.log(`Linked ${options.name}: account ${approved.accountId}, device ${approved.deviceId}.`);
      console.log(`Profile saved to ${store.pathOf(options.name)}.`);
      if (options.historyWaitSeconds > 0) {
        console.log(`Waiting up to ${options.historyWaitSeconds} s for the history the phone shares ...`);
        const history = await receiveHistory(signedIn, options.historyWaitSeconds * 1000);
        if (!history) {
          console.log('No history arrived.');
          return;
        }
        const profile = await store.load(options.name);
        await store.save({ ...profile, lastSequence: Math.max(profile.lastSequence, history.lastSequence) });
        await store.addHistory(options.name, history.messages);
        console.log(`History from the phone: ${history.messages.length} message(s)`);
        for (const message of history.messages) console.log(`  from ${message.from}: ${message.text}`);
      }
      return;
    }
    throw new Error(`no primary approved the link in ${options.attempts} attempts`);
  } finally {
    client.close();
  }
}

/** Waits on a link session: its approval, or undefined when it expired. */
function watchLink(
  client: TandemClient,
  keys: DeviceKeys,
  sessionId: string,
): Promise<LinkApproved | undefined> {
  return new Promise((resolve, reject) => {
    const call = client.linking.stream('watchLink', { sessionId, signature: watchProof(keys, sessionId) });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      call.cancel();
      outcome();
    };
    call.on('data', (response: WatchLinkResponse) => {
      const { outcome } = response;
      if (outcome?.$case === 'approved') settle(() => resolve(outcome.value));
      else if (outcome?.$case === 'expired') settle(() => resolve(undefined));
    });
    call.on('error', (error) => settle(() => reject(error)));
    call.on('end', () => settle(() => reject(new Error('the link session ended without an outcome'))));
  });
}
