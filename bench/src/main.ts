import { cpus, totalmem } from 'node:os';
import { benchAccounts } from './accounts.bench';
import { benchEventStores } from './event-store.bench';

/**
 * `npm run bench`: Tandem's performance figures on this machine. Distributed figures need
 * KAFKA_BROKERS and MONGODB_URI (tools/bench/run.sh starts a local Kafka and FerretDB otherwise).
 */
async function main(): Promise<void> {
  const kafkaBrokers = process.env['KAFKA_BROKERS'] || undefined;
  const mongoUri = process.env['MONGODB_URI'] || undefined;
  console.log(
    `node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `distributed: ${kafkaBrokers && mongoUri ? `Kafka ${kafkaBrokers}, ${mongoUri}` : 'not configured'}`,
  );
  await benchEventStores(mongoUri);
  await benchAccounts(kafkaBrokers, mongoUri);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
