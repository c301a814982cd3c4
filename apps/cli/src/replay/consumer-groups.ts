import type { Feed, ProjectionDefinition } from '@tandem/runtime';
import { TANDEM_SERVICES } from '@tandem/services';
import { type Connection, serviceGroup, serviceTopic } from './connection';

/** A consumer group a service declares (a projection's or a consumer's feed), and its topic. */
export interface DeclaredGroup {
  readonly groupId: string;
  readonly topic: string;
}

/** Every consumer group the services declare, named as Tandem names them on this connection. */
export function declaredGroups(connection: Connection): DeclaredGroup[] {
  const groups = new Map<string, DeclaredGroup>();
  for (const service of TANDEM_SERVICES) {
    const feeds: Feed<unknown>[] = [
      ...(service.projections as readonly ProjectionDefinition<unknown, unknown>[]).flatMap(
        (projection) => projection.feeds,
      ),
      ...service.consumers.map((consumer) => consumer.feed as Feed<unknown>),
    ];
    for (const feed of feeds) {
      const groupId = serviceGroup(connection, service.name as never, feed.group);
      groups.set(groupId, { groupId, topic: serviceTopic(connection, feed.topic as never) });
    }
  }
  return [...groups.values()];
}
