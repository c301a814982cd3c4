import {
  type Actor,
  type BackupContents,
  type BackupDomainEvent,
  type BackupsCommand,
  backupsDecider,
  type BackupsState,
} from '@tandem/backups-domain';
import {
  type CommandContext,
  CommandHandler,
  type CommandResult,
  type EventStore,
} from '@tandem/event-sourcing';
import { backupEventCodec } from './backups.codecs';

type Result = CommandResult<BackupDomainEvent, BackupsState>;

/**
 * The backups write side: each account's backup list in the backups event store. It adds what the
 * decider needs from outside, the clock and the configured retention; the decider holds the rules.
 */
export class BackupCommands {
  readonly backups: CommandHandler<BackupsCommand, BackupDomainEvent, BackupsState>;

  constructor(
    store: EventStore,
    private readonly retention: number,
    onAppended: () => void,
  ) {
    this.backups = new CommandHandler(store, backupsDecider, backupEventCodec, { onAppended });
  }

  record(accountId: string, by: Actor, backup: BackupContents, context: CommandContext): Promise<Result> {
    return this.backups.handle(
      accountId,
      { type: 'RecordBackup', accountId, backup, by: actor(by), retention: this.retention, now: new Date() },
      context,
    );
  }

  delete(accountId: string, by: Actor, backupId: string, context: CommandContext): Promise<Result> {
    return this.backups.handle(
      accountId,
      { type: 'DeleteBackup', accountId, backupId, by: actor(by), now: new Date() },
      context,
    );
  }

  /** The account was deleted at `at`; a repeated purge records nothing. */
  purge(accountId: string, at: Date, context: CommandContext): Promise<Result> {
    return this.backups.handle(accountId, { type: 'PurgeBackups', accountId, now: at }, context);
  }
}

const actor = ({ deviceId, primary }: Actor): Actor => ({ deviceId, primary });
