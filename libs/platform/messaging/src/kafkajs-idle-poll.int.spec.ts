import { setTimeout as sleep } from 'node:timers/promises';
import { testInfrastructure, uniqueName } from '@tandem/testing';
import { describe, expect, it, vi } from 'vitest';
import { KafkaEventLog } from './event-log.kafka';

const ignore = (): void => undefined;

describe('a Kafka event log that publishes and consumes, then idles', () => {
  it('prints no TimeoutNegativeWarning and sets no timer with a negative delay', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    const log = new KafkaEventLog({
      brokers: testInfrastructure().kafkaBrokers,
      clientId: uniqueName('idle'),
      logger: { error: ignore, warn: ignore, info: ignore, debug: ignore },
      onError: ignore,
    });
    const topic = uniqueName('idle');
    try {
      await log.ensureTopics([{ name: topic, partitions: 1 }]);
      let received = 0;
      await log.subscribe({
        groupId: uniqueName('idle'),
        topics: [topic],
        onBatch: async (batch) => {
          received += batch.records.length;
        },
      });
      await log.publish(topic, [{ key: 'k', value: Uint8Array.of(1) }]);
      await vi.waitFor(() => expect(received).toBe(1), { timeout: 30_000 });

      const timers = vi.spyOn(globalThis, 'setTimeout');
      await sleep(1_000);
      const negativeDelays = timers.mock.calls.filter(([, delay]) => (delay ?? 0) < 0).length;
      timers.mockRestore();

      expect(negativeDelays).toBe(0);
      expect(warnings).not.toContain('TimeoutNegativeWarning');
    } finally {
      await log.close();
      process.off('warning', onWarning);
    }
  });
});
