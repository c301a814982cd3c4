import type { DeliveryReceipt } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { deliveryReceipts } from '@tandem/fanout-domain';
import type { Logger } from '@tandem/observability';
import { periodicWorker, type Worker } from '@tandem/runtime';
import type { DeviceListsProjection } from './device-lists.projection';
import type { FanoutLog } from './fanout-log';
import type { AckedEntries } from './inboxes.projection';

/**
 * Delivery receipts, gathered: when a device acks messages of other accounts, each of those
 * accounts gets a receipt, but not one per ack. The receipts of a short window are issued together,
 * one record per sending account naming every device that acked its messages, so a conversation
 * in full flow costs each sender's devices about one entry per window.
 *
 * They are issued by the instance that folds the acking device's inbox; should it crash before it
 * issued them, folding the acks again after the restart issues them again (at least once).
 */
export class DeliveryReceiptBatcher {
  /** By sending account, then by acking device: the receipt gathered so far. */
  private gathered = new Map<string, Map<string, DeliveryReceipt>>();

  constructor(
    private readonly log: FanoutLog,
    private readonly deviceLists: Pick<DeviceListsProjection, 'get'>,
  ) {}

  /** Gathers the receipts a device's ack gives. */
  add({ accountId, deviceId, entries, ackedAt }: AckedEntries): void {
    for (const { senderAccountId, serverMessageIds } of deliveryReceipts({ accountId, deviceId }, entries)) {
      let bySender = this.gathered.get(senderAccountId);
      if (!bySender) {
        bySender = new Map();
        this.gathered.set(senderAccountId, bySender);
      }
      const key = `${accountId}:${deviceId}`;
      const known = bySender.get(key);
      if (known) {
        known.serverMessageIds.push(...serverMessageIds);
        known.deliveredAt = ackedAt;
      } else {
        bySender.set(key, {
          recipientAccountId: accountId,
          recipientDeviceId: deviceId,
          serverMessageIds: [...serverMessageIds],
          deliveredAt: ackedAt,
        });
      }
    }
  }

  /** Issues what was gathered; on failure it is kept for the next flush. */
  async flush(): Promise<void> {
    if (this.gathered.size === 0) return;
    const gathered = this.gathered;
    this.gathered = new Map();
    const receipts = new Map([...gathered].map(([sender, byDevice]) => [sender, [...byDevice.values()]]));
    try {
      const devices = new Map(
        await Promise.all(
          [...receipts.keys()].map(
            async (sender) =>
              [
                sender,
                ((await this.deviceLists.get(sender, false))?.devices ?? []).map((device) => device.deviceId),
              ] as const,
          ),
        ),
      );
      await this.log.issueReceipts(receipts, devices, {
        correlationId: 'delivery-receipts',
        causationId: '',
      });
    } catch (error) {
      for (const [sender, byDevice] of gathered) {
        const now = this.gathered.get(sender);
        if (!now) this.gathered.set(sender, byDevice);
        else for (const [device, receipt] of byDevice) if (!now.has(device)) now.set(device, receipt);
      }
      throw error;
    }
  }

  /** Flushes every `windowMs`, and once more when stopped. */
  worker(windowMs: number, logger: Logger): Worker {
    const reportFailure = (error: unknown) =>
      logger.error({ err: error }, 'issuing delivery receipts failed');
    const flushes = periodicWorker('fanout.delivery-receipts', windowMs, () => this.flush(), reportFailure);
    return {
      name: flushes.name,
      start: () => flushes.start(),
      stop: async () => {
        await flushes.stop();
        await this.flush().catch(reportFailure);
      },
    };
  }
}
