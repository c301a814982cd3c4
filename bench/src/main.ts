import { cpus, totalmem } from 'node:os';
import { benchAccounts } from './accounts.bench';
import { benchEventStores } from './event-store.bench';
import { benchFanout } from './fanout.bench';
import { benchMedia } from './media.bench';
import { benchPeer } from './peer.bench';
import { benchPresence } from './presence.bench';
import { benchReplay } from './replay.bench';

/** The MongoDB-protocol server's backend as infra/bin/up reported it. */
function ferretDbBackend(): string {
  const backend = process.env['TANDEM_FERRETDB_BACKEND'];
  return backend
    ? `FerretDB on ${backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`
    : 'server not started by infra/bin/up';
}

/**
 * `npm run bench`: Tandem's performance figures on this machine. Distributed figures need
 * KAFKA_BROKERS and MONGODB_URI (tools/bench/run.sh starts a local Kafka and FerretDB otherwise).
 * TANDEM_BENCH_ONLY=<names, comma-separated> runs only some of event-store, accounts, peer,
 * fanout, presence, replay, media.
 */
async function main(): Promise<void> {
  const kafkaBrokers = process.env['KAFKA_BROKERS'] || undefined;
  const mongoUri = process.env['MONGODB_URI'] || undefined;
  const only = process.env['TANDEM_BENCH_ONLY']?.split(',').map((name) => name.trim());
  const selected = (name: string) => !only || only.includes(name);
  console.log(
    `node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `distributed: ${kafkaBrokers && mongoUri ? `Kafka ${kafkaBrokers}, ${mongoUri} (${ferretDbBackend()})` : 'not configured'}`,
  );
  if (selected('event-store')) await benchEventStores(mongoUri);
  if (selected('accounts')) await benchAccounts(kafkaBrokers, mongoUri);
  if (selected('peer')) await benchPeer(kafkaBrokers, mongoUri);
  if (selected('fanout')) await benchFanout(kafkaBrokers, mongoUri);
  if (selected('presence')) await benchPresence(kafkaBrokers, mongoUri);
  if (selected('replay')) await benchReplay(kafkaBrokers);
  if (selected('media')) await benchMedia(kafkaBrokers, mongoUri);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
