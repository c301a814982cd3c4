import { randomUUID } from 'node:crypto';
import { CommandHandler, type EventStore, type OutboxRelay } from '@tandem/event-sourcing';
import {
  type ConnectionCommand,
  connectionDecider,
  type ConnectionState,
  type FanoutDomainEvent,
} from '@tandem/fanout-domain';
import type { Logger } from '@tandem/observability';
import { fanoutEventCodec } from './fanout.codecs';
import type { ConnectionRecorder } from './inbox-streams';

/** How long the connections of an instance hold after it said it is alive, unless it says so again. */
export const INSTANCE_ALIVE_VALID_MS = 60_000;

/**
 * The connections of this fan-out instance, recorded in its event store (DeviceConnected,
 * DeviceDisconnected, InstanceAlive) for presence: a device is online while a stream of it is open
 * here and this instance keeps saying that it is alive.
 */
export class InstanceConnections implements ConnectionRecorder {
  private readonly connections: CommandHandler<ConnectionCommand, FanoutDomainEvent, ConnectionState>;

  constructor(
    store: EventStore,
    /** Woken when a connection was recorded, to publish it at once. */
    relay: Pick<OutboxRelay, 'wake'>,
    readonly instanceId: string,
    private readonly logger: Logger,
  ) {
    this.connections = new CommandHandler(store, connectionDecider, fanoutEventCodec, {
      onAppended: () => relay.wake(),
    });
  }

  connected(accountId: string, deviceId: number): Promise<void> {
    return this.record(accountId, deviceId, true);
  }

  disconnected(accountId: string, deviceId: number): Promise<void> {
    return this.record(accountId, deviceId, false);
  }

  /** Says that this instance, and so its connections, are alive for a while. */
  async announceAlive(): Promise<void> {
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

  private async record(accountId: string, deviceId: number, connected: boolean): Promise<void> {
    try {
      await this.connections.handle(
        `connection:${this.instanceId}:${accountId}:${deviceId}:${randomUUID()}`,
        {
          type: 'RecordConnection',
          device: { accountId, deviceId },
          instanceId: this.instanceId,
          connected,
          now: new Date(),
        },
        { correlationId: randomUUID(), causationId: '' },
      );
    } catch (error) {
      this.logger.error({ err: error, accountId, deviceId }, 'recording a connection failed');
    }
  }
}
