/**
 * Connections: which fan-out instance holds which device's inbox stream, and which instances are
 * alive. Presence reads them from tandem.fanout.events: a device is connected from its
 * DeviceConnected until its DeviceDisconnected, or until its instance stops saying InstanceAlive.
 * Invariants:
 * - each connection, disconnection and liveness announcement is its own stream, recorded once;
 * - liveness holds for a positive time.
 */
import { assertNever, type Decider, invalidArgument } from '@tandem/decider';
import type { DeviceAddress } from './inbox';
import type { FanoutDomainEvent } from './message.decider';

export interface RecordConnection {
  readonly type: 'RecordConnection';
  readonly device: DeviceAddress;
  readonly instanceId: string;
  readonly connected: boolean;
  readonly now: Date;
}

export interface AnnounceInstance {
  readonly type: 'AnnounceInstance';
  readonly instanceId: string;
  readonly validForMs: number;
  readonly now: Date;
}

export type ConnectionCommand = RecordConnection | AnnounceInstance;

export interface ConnectionState {
  readonly recorded: boolean;
}

function decide(command: ConnectionCommand, state: ConnectionState): FanoutDomainEvent[] {
  if (state.recorded) return [];
  switch (command.type) {
    case 'RecordConnection': {
      const { accountId, deviceId } = command.device;
      return command.connected
        ? [
            {
              $case: 'deviceConnected',
              value: { accountId, deviceId, instanceId: command.instanceId, connectedAt: command.now },
            },
          ]
        : [
            {
              $case: 'deviceDisconnected',
              value: { accountId, deviceId, instanceId: command.instanceId, disconnectedAt: command.now },
            },
          ];
    }
    case 'AnnounceInstance':
      if (!(command.validForMs > 0)) throw invalidArgument('valid_for_ms', 'must be positive');
      return [
        {
          $case: 'instanceAlive',
          value: {
            accountId: '',
            instanceId: command.instanceId,
            at: command.now,
            validForMs: command.validForMs,
          },
        },
      ];
    default:
      return assertNever(command);
  }
}

export const connectionDecider: Decider<ConnectionCommand, FanoutDomainEvent, ConnectionState> = {
  decide,
  evolve: () => ({ recorded: true }),
  initialState: () => ({ recorded: false }),
};
