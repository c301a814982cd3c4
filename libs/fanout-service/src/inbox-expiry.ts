import type { CommandHandler } from '@tandem/event-sourcing';
import {
  expiredIn,
  expiryCutoff,
  expiryStreamId,
  type FanoutDomainEvent,
  type InboxCommand,
  type InboxState,
} from '@tandem/fanout-domain';
import type { InboxTiers } from './inbox-tiers';

/**
 * The expiry sweep: records InboxExpired for the entries of every inbox older than the retention
 * (FerretDB has no TTL indexes, and the removal is an event like any other). The projection
 * removes them when the event comes back from the log; a sweep that runs again before then records
 * nothing more, as the expiry's stream is named by the device and the last sequence it expires.
 */
export async function expireInboxEntries(
  inboxes: Pick<InboxTiers, 'allHeads'>,
  inboxChanges: CommandHandler<InboxCommand, FanoutDomainEvent, InboxState>,
  retentionMs: number,
  now: Date,
): Promise<number> {
  const cutoff = expiryCutoff(now, retentionMs);
  let expired = 0;
  for (const head of await inboxes.allHeads()) {
    for (const inbox of head.inboxes) {
      const entries = expiredIn(inbox, cutoff);
      if (entries.length === 0) continue;
      const device = { accountId: head.accountId, deviceId: inbox.deviceId };
      await inboxChanges.handle(
        expiryStreamId(device, entries.at(-1)!.sequence),
        { type: 'ExpireEntries', device, expired: entries, now },
        { correlationId: `inbox-expiry:${now.toISOString()}`, causationId: '' },
      );
      expired += entries.length;
    }
  }
  return expired;
}
