import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientDuplexStream, status } from '@grpc/grpc-js';
import type { ConnectRequest, ConnectResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { DeviceSession } from './device-session';
import { historyMessageOf } from './history';
import { describeEntry, namesFromProfiles } from './inbox-entries';
import type { Profile, ProfileStore } from './profiles';
import { describeFailure, hasStatus, TandemClient } from './tandem-client';

export interface ReceiveOptions {
  readonly name: string;
  readonly server?: string;
}

/** How long to wait before reopening a stream the server dropped. */
const RECONNECT_AFTER_MS = 2_000;

/**
 * Reads the device's inbox as a client does, on its one connection (FanoutService/Connect), until
 * Ctrl-C: the entries after the last sequence it processed, a caught-up marker, then live entries.
 * Each entry is printed and acked cumulatively on the connection (acking a message sends its
 * sender a delivery receipt), and the profile keeps the last sequence acked and the messages (the
 * history `approve` shares with a new companion).
 */
export async function receive(store: ProfileStore, options: ReceiveOptions): Promise<void> {
  let profile: Profile = await store.load(options.name);
  const client = new TandemClient(options.server ?? profile.server);
  const session = await DeviceSession.signIn(client, profile).catch((error: unknown) => {
    client.close();
    throw error;
  });
  let call: ClientDuplexStream<ConnectRequest, ConnectResponse> | undefined;
  let stopping = false;
  let stop = () => {};
  /** Entries are printed, acked and recorded one after the other, in sequence order. */
  let work = Promise.resolve();
  const enqueue = (step: () => Promise<void> | void) => {
    work = work.then(step).catch((error: unknown) => console.error(`warning: ${describeFailure(error)}`));
  };

  const handle = async (
    entry: InboxEntry,
    connection: ClientDuplexStream<ConnectRequest, ConnectResponse>,
  ) => {
    console.log(describeEntry(entry, profile, namesFromProfiles(await store.loadAll())));
    const kept = historyMessageOf(entry);
    if (kept) await store.addHistory(profile.name, [kept]);
    connection.write({ frame: { $case: 'ack', value: { throughSequence: entry.sequence } } });
    profile = { ...profile, lastSequence: Math.max(profile.lastSequence, entry.sequence) };
    await store.save(profile);
  };

  console.log(
    `Receiving for ${profile.name} (${profile.accountId}/${profile.deviceId}) after #${profile.lastSequence}; Ctrl-C to stop.`,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      stop = () => {
        if (stopping) return;
        stopping = true;
        call?.cancel();
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);

      const open = async () => {
        await work;
        if (stopping) return;
        const stream = client.fanout.duplex<ConnectRequest, ConnectResponse>(
          'connect',
          await session.token(),
        );
        call = stream;
        let ended = false;
        stream.write({ frame: { $case: 'open', value: { afterSequence: profile.lastSequence } } });
        stream.on('data', (response: ConnectResponse) => {
          for (const entry of response.entries) enqueue(() => handle(entry, stream));
          if (response.caughtUp) {
            const last = response.caughtUp.lastSequence;
            enqueue(() => console.log(`-- caught up at #${last}; waiting for new entries --`));
          } else if (response.superseded) {
            enqueue(() => console.log('Another receive for this device took over; stopping.'));
            stop();
          }
        });
        stream.on('error', (error) => {
          if (ended || stopping) return;
          ended = true;
          if (hasStatus(error, status.UNAVAILABLE)) {
            console.error(`Lost the connection (${error.details}); reconnecting ...`);
            void sleep(RECONNECT_AFTER_MS).then(() => open().catch(reject));
          } else reject(error);
        });
        stream.on('end', () => {
          if (ended || stopping) return;
          ended = true;
          console.log('The server ended the stream.');
          stop();
        });
      };
      open().catch(reject);
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    stopping = true;
    call?.cancel();
    await work;
    client.close();
  }
  console.log(`Stopped after #${profile.lastSequence}.`);
}
