import { randomUUID } from 'node:crypto';
import type { CommandHandler } from '@tandem/event-sourcing';
import type { ConnectionCommand, ConnectionState, FanoutDomainEvent } from '@tandem/fanout-domain';

/** How long each InstanceAlive holds: three times the interval it is said at. */
const INSTANCE_ALIVE_VALID_MS = 60_000;

/**
 * Says that this instance, and so the connections it holds, are alive (fanout's InstanceAlive):
 * at start and then every `InstanceAlive.INTERVAL_MS`. Presence drops the streams of an instance
 * that stops saying it.
 */
export class InstanceAlive {
  static readonly INTERVAL_MS = 20_000;

  constructor(
    private readonly connections: CommandHandler<ConnectionCommand, FanoutDomainEvent, ConnectionState>,
    private readonly instanceId: string,
  ) {}

  async announce(): Promise<void> {
    await this.connections.handle(
      `instance-alive:${this.instanceId}:${randomUUID()}`,
      {
        type: 'AnnounceInstance',
        instanceId: this.instanceId,
        validForMs: INSTANCE_ALIVE_VALID_MS,
        now: new Date(),
      },
      { correlationId: randomUUID(), causationId: '' },
    );
  }
}
