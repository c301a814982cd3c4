import { randomUUID } from 'node:crypto';
import type { DeviceDirectory } from '@tandem/linking-events';
import { linkSessionStreamId } from '@tandem/linking-domain';
import type { DeviceActivity } from './device-activity';
import type { DeviceLists, LinkSessions } from './device-linking';
import type { LinkSessionsProjection } from './link-sessions.projection';

const sweepContext = () => {
  const id = randomUUID();
  return { correlationId: id, causationId: id };
};

/** Records LinkSessionExpired for open sessions past their expiry. */
export async function expireLinkSessions(
  sessions: LinkSessionsProjection,
  linkSessions: LinkSessions,
  now: Date,
): Promise<void> {
  const context = sweepContext();
  for (const sessionId of await sessions.expiredBy(now)) {
    await linkSessions.handle(linkSessionStreamId(sessionId), { type: 'ExpireLinkSession', now }, context);
  }
}

/**
 * Unlinks the companions of every primary that has not signed in for `inactivityMs` (WhatsApp's
 * 14 days). A primary that never signed in counts from when it was linked.
 */
export async function unlinkCompanionsOfInactivePrimaries(
  directory: DeviceDirectory,
  activity: DeviceActivity,
  deviceLists: DeviceLists,
  inactivityMs: number,
  now: Date,
): Promise<void> {
  const context = sweepContext();
  for (const primary of await directory.linkedPrimaries()) {
    const lastActiveAt =
      (await activity.lastActiveAt(primary.accountId, primary.deviceId)) ?? new Date(primary.linkedAt);
    if (now.getTime() - lastActiveAt.getTime() < inactivityMs) continue;
    await deviceLists.handle(
      primary.accountId,
      { type: 'UnlinkCompanionsOfInactivePrimary', primaryLastActiveAt: lastActiveAt, inactivityMs, now },
      context,
    );
  }
}
