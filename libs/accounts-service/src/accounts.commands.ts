import { randomUUID } from 'node:crypto';
import {
  type AccountCommand,
  type AccountDomainEvent,
  type AccountState,
  accountDecider,
  type HolderStatus,
  type PhoneNumberCommand,
  type PhoneNumberState,
  phoneNumberDecider,
  phoneNumberStreamId,
  validateRegistration,
} from '@tandem/accounts-domain';
import { type CommandContext, CommandHandler, type EventStore } from '@tandem/event-sourcing';
import { accountEventCodec } from './accounts.codec';

export interface Registration {
  readonly phoneNumber: string;
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly deviceName: string;
  /** Take over the number's registered account on a new phone. */
  readonly reregister: boolean;
}

export interface Registered {
  readonly accountId: string;
  /** Whether the number's registered account was taken over by a new phone. */
  readonly reregistered: boolean;
}

/**
 * The accounts write side: the account and phone-number aggregates in the accounts event store.
 * Registering claims the number, then records the account; both are checked before either is
 * written, so a refused registration records nothing. A re-registration on a new phone records
 * AccountReregistered on the account that holds the number.
 */
export class AccountCommands {
  readonly accounts: CommandHandler<AccountCommand, AccountDomainEvent, AccountState>;
  private readonly phoneNumbers: CommandHandler<PhoneNumberCommand, AccountDomainEvent, PhoneNumberState>;

  constructor(store: EventStore, onAppended: () => void) {
    this.accounts = new CommandHandler(store, accountDecider, accountEventCodec, { onAppended });
    this.phoneNumbers = new CommandHandler(store, phoneNumberDecider, accountEventCodec, { onAppended });
  }

  async register(registration: Registration, context: CommandContext): Promise<Registered> {
    const valid = validateRegistration(registration);
    if (registration.reregister) {
      const { state } = await this.phoneNumbers.load(phoneNumberStreamId(valid.phoneNumber));
      const holder = state.holder?.accountId;
      if (holder && (await this.statusOf(holder)) === 'registered') {
        await this.accounts.handle(
          holder,
          { type: 'ReregisterAccount', accountId: holder, ...valid, now: new Date() },
          context,
        );
        return { accountId: holder, reregistered: true };
      }
    }
    const accountId = randomUUID();
    await this.phoneNumbers.handle(
      phoneNumberStreamId(valid.phoneNumber),
      async (state) => ({
        type: 'ClaimPhoneNumber',
        phoneNumber: valid.phoneNumber,
        accountId,
        holderStatus: state.holder ? await this.statusOf(state.holder.accountId) : 'unregistered',
        now: new Date(),
      }),
      context,
    );
    await this.accounts.handle(
      accountId,
      { type: 'RegisterAccount', accountId, ...valid, now: new Date() },
      context,
    );
    return { accountId, reregistered: false };
  }

  private async statusOf(accountId: string): Promise<HolderStatus> {
    const { state } = await this.accounts.load(accountId);
    return state.status;
  }
}
