import type { DeliveryReceiptBatcher } from './delivery-receipts';
import type { InboxSignals } from './inbox-signals';
import type { InboxStreams } from './inbox-streams';
import type { AckedEntries, AppendedEntries, InboxNotifier } from './inboxes.projection';

/**
 * Where the inbox projection's news goes: appended entries to this instance's streams and, through
 * the signals, to the other instances' (which also learn what a checkpoint stored); acked entries
 * to the delivery receipts of their senders.
 */
export class InboxNotifications implements InboxNotifier {
  constructor(
    private readonly streams: InboxStreams,
    private readonly receipts: DeliveryReceiptBatcher,
    /** None when this process is the only instance. */
    private readonly signals?: InboxSignals,
  ) {}

  entriesAppended(appended: readonly AppendedEntries[]): void {
    this.streams.appended(appended);
    this.signals?.entriesAppended(appended);
  }

  entriesStored(stored: readonly AppendedEntries[]): void {
    this.signals?.entriesStored(stored);
  }

  entriesAcked(acked: AckedEntries): void {
    this.receipts.add(acked);
  }
}
