import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { demoSendRequest } from './demo-messages';
import { DeviceSession } from './device-session';
import { namesFromProfiles } from './inbox-entries';
import type { Profile, ProfileStore } from './profiles';
import { hasStatus, retrying, TandemClient } from './tandem-client';

export interface SendOptions {
  readonly name: string;
  /** A phone number (+...), a profile name on this machine, or an account id. */
  readonly to: string;
  readonly text: string;
  readonly server?: string;
}

/** How often a Send refused for its device coverage is built again from fresh device lists. */
const COVERAGE_ATTEMPTS = 5;

/**
 * Sends a text the way a client sends a message: it fetches the recipient's device list and its
 * own, builds one envelope per device (the demo puts the text in each, unencrypted) and sends
 * them together. A refusal because a list changed meanwhile is answered by building again.
 */
export async function send(store: ProfileStore, options: SendOptions): Promise<void> {
  const profile = await store.load(options.name);
  const profiles = await store.loadAll();
  const client = new TandemClient(options.server ?? profile.server);
  try {
    const session = await DeviceSession.signIn(client, profile);
    const recipientAccountId = await resolveRecipient(session, profiles, options.to);
    const clientMessageId = randomUUID();
    for (let attempt = 1; ; attempt++) {
      const token = await session.token();
      const deviceList = (accountId: string) =>
        client.linking.call('getDeviceList', { accountId }, token).catch((error: unknown) => {
          if (hasStatus(error, status.NOT_FOUND))
            throw new Error(`no account ${accountId} on ${client.address}`);
          throw error;
        });
      const [recipientList, ownList] = await Promise.all([
        deviceList(recipientAccountId),
        deviceList(profile.accountId),
      ]);
      const request = demoSendRequest({
        sender: profile,
        recipientList,
        ownList,
        clientMessageId,
        text: options.text,
      });
      try {
        const sent = await client.fanout.call('send', request, token);
        const nameOf = namesFromProfiles(profiles);
        const recipient = nameOf(recipientAccountId);
        console.log(
          `Sent to ${recipientAccountId}${recipient ? ` (${recipient})` : ''}: server message id ${sent.serverMessageId}`,
        );
        const devices = request.envelopes.map((envelope) => `${envelope.accountId}/${envelope.deviceId}`);
        console.log(`  ${devices.length} envelope(s), for ${devices.join(', ') || 'no device'}`);
        return;
      } catch (error) {
        const coverage =
          hasStatus(error, status.FAILED_PRECONDITION) && error.metadata?.get('tandem-details')[0];
        if (!coverage || attempt >= COVERAGE_ATTEMPTS) throw error;
        await sleep(200 * attempt);
      }
    }
  } finally {
    client.close();
  }
}

/** The recipient's account id: looked up by phone number, taken from a local profile, or as given. */
async function resolveRecipient(
  session: DeviceSession,
  profiles: readonly Profile[],
  to: string,
): Promise<string> {
  if (to.startsWith('+')) {
    const token = await session.token();
    const { accountId } = await retrying(
      () => session.client.accounts.call('lookupAccount', { phoneNumber: to }, token),
      { retryOn: [status.NOT_FOUND], timeoutMs: 3_000 },
    ).catch((error: unknown) => {
      if (hasStatus(error, status.NOT_FOUND)) throw new Error(`no account is registered with ${to}`);
      throw error;
    });
    return accountId;
  }
  return profiles.find((profile) => profile.name === to)?.accountId ?? to;
}
