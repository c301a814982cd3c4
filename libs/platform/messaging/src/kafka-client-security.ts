import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaSasl, KafkaSecurity } from '@tandem/config';
import type { KafkaConfig, SASLOptions } from 'kafkajs';

/**
 * kafkajs's `ssl` and `sasl` client options for Tandem's Kafka settings (KAFKA_SSL*, KAFKA_SASL*):
 * every Kafka client Tandem makes (the event log of the services and the outbox relay, the CLI's
 * readers) goes through here. Without TLS and SASL it adds nothing: PLAINTEXT.
 */
export function kafkaClientSecurity({ tls, sasl }: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const options: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (tls) {
    const ssl: ConnectionOptions = { ...tls.clientCertificate };
    if (tls.ca !== undefined) ssl.ca = [tls.ca];
    options.ssl = ssl;
  }
  if (sasl) options.sasl = saslOptions(sasl);
  return options;
}

function saslOptions(sasl: KafkaSasl): SASLOptions {
  switch (sasl.mechanism) {
    case 'oauthbearer': {
      const { tokenFile } = sasl;
      return {
        mechanism: 'oauthbearer',
        // Read at every (re)authentication: whatever renews the token file is followed.
        oauthBearerProvider: async () => ({ value: (await readFile(tokenFile, 'utf8')).trim() }),
      };
    }
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
    default: {
      const unknown: never = sasl;
      throw new Error(`unknown SASL mechanism ${JSON.stringify(unknown)}`);
    }
  }
}
