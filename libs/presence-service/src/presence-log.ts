import type { EventLog } from '@tandem/messaging';
import { eventRecord, presenceEventCodec } from './presence.codecs';
import type { PresencePublisher } from './presence-book';

/** Writes the book's presence changes to the compacted topic tandem.presence.events. */
export class PresenceLog {
  constructor(
    private readonly log: EventLog,
    private readonly topic: string,
    private readonly clock: () => Date,
  ) {}

  readonly publish: PresencePublisher = (records) =>
    this.log.publish(
      this.topic,
      records.map(({ record, version }) =>
        eventRecord(
          presenceEventCodec,
          { $case: 'presenceChanged', value: record },
          { aggregateId: record.accountId, version, occurredAt: record.changedAt ?? this.clock() },
        ),
      ),
    );
}
