import type { DocumentCollection, VersionedDocument } from '@tandem/documents';
import type { ReceivedEvent } from '@tandem/event-sourcing';
import type { DeviceListDomainEvent } from '@tandem/linking-domain';
import { defineProjection, eventFeed } from '@tandem/runtime';
import { deviceListEventCodec } from './linking.codecs';

/** A link session that is still open or just ended, for the expiry sweeper. */
export interface LinkSessionRecord extends VersionedDocument {
  readonly status: 'started' | 'approved' | 'expired';
  readonly expiresAt: string;
}

/**
 * Open link sessions, from tandem.linking.events, so the sweeper finds those to expire without
 * reading every session's stream. Versioned by the session's stream: replays change nothing.
 */
export class LinkSessionsProjection {
  constructor(private readonly sessions: DocumentCollection<LinkSessionRecord>) {}

  /** The index the expiry sweep's query needs on MongoDB; the sweep runs off the request path. */
  async setUp(): Promise<void> {
    await this.sessions.ensureIndex(['status']);
  }

  async apply({ event, metadata }: ReceivedEvent<DeviceListDomainEvent>): Promise<void> {
    const version = metadata.aggregateVersion;
    switch (event.$case) {
      case 'linkSessionStarted':
        await this.sessions.putIfNewer({
          _id: event.value.sessionId,
          status: 'started',
          expiresAt: (event.value.expiresAt ?? metadata.occurredAt).toISOString(),
          version,
        });
        return;
      case 'linkSessionApproved':
      case 'linkSessionExpired': {
        const known = await this.sessions.get(event.value.sessionId);
        if (!known) return;
        const status = event.$case === 'linkSessionApproved' ? 'approved' : 'expired';
        await this.sessions.putIfNewer({ ...known, status, version });
        return;
      }
      default:
        return;
    }
  }

  /** Ids of sessions still marked started whose expiry has passed. */
  async expiredBy(now: Date): Promise<string[]> {
    const started = await this.sessions.find({ status: 'started' });
    return started
      .filter((session) => Date.parse(session.expiresAt) <= now.getTime())
      .map((session) => session._id);
  }
}

/**
 * The open link sessions, kept by the group `linking.device-directory` (after the device
 * directory, from the same events).
 */
export const linkSessions = defineProjection({
  name: 'link-sessions',
  collections: ['link_sessions'],
  feeds: [
    eventFeed<DeviceListDomainEvent, LinkSessionsProjection>(
      'linking',
      'device-directory',
      deviceListEventCodec,
    ),
  ],
  create: (store) => new LinkSessionsProjection(store.collection('link_sessions')),
});
