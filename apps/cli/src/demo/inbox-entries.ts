import { type InboxEntry, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { demoText } from './demo-messages';
import type { Profile } from './profiles';

/** A name a person knows an account or one of its devices by, when there is one. */
export type NameOf = (accountId: string, deviceId?: number) => string | undefined;

/**
 * Names accounts and devices by the profiles on this machine: a device by its own profile, an
 * account (or a device without a profile here) by its primary's.
 */
export function namesFromProfiles(profiles: readonly Profile[]): NameOf {
  return (accountId, deviceId) => {
    const ofAccount = profiles.filter((profile) => profile.accountId === accountId);
    const device = ofAccount.find((profile) => profile.deviceId === deviceId);
    return (device ?? ofAccount.find((profile) => profile.primary) ?? ofAccount[0])?.name;
  };
}

/**
 * One inbox entry as a line for a person, e.g. `#3 from <account>/<device> (alice): hello`. The
 * receiving device's own account is `me`: a message from it is a copy of what another of its
 * devices sent, and names the recipient.
 */
export function describeEntry(entry: InboxEntry, me: { readonly accountId: string }, nameOf: NameOf): string {
  const named = (label: string, name: string | undefined) => (name ? `${label} (${name})` : label);
  const device = (accountId: string, deviceId: number) =>
    named(`${accountId}/${deviceId}`, nameOf(accountId, deviceId));
  const account = (accountId: string) => named(accountId, nameOf(accountId));
  const at = `#${entry.sequence}`;
  const kind = entry.content;

  if (kind?.$case === 'message') {
    const { senderAccountId, senderDeviceId, recipientAccountId, content } = kind.value;
    const to = recipientAccountId === me.accountId ? '' : ` to ${account(recipientAccountId)}`;
    const text = demoText(content) ?? `<${content.length} bytes that are not a demo message>`;
    return `${at} from ${device(senderAccountId, senderDeviceId)}${to}: ${text}`;
  }
  if (kind?.$case === 'receipt') {
    const { recipientAccountId, recipientDeviceId, serverMessageIds } = kind.value;
    return `${at} receipt: ${device(recipientAccountId, recipientDeviceId)} received ${serverMessageIds.join(', ')}`;
  }
  if (kind?.$case === 'receipts') {
    return kind.value.receipts
      .map(
        ({ recipientAccountId, recipientDeviceId, serverMessageIds }) =>
          `${at} receipt: ${device(recipientAccountId, recipientDeviceId)} received ${serverMessageIds.join(', ')}`,
      )
      .join('\n');
  }
  if (kind?.$case === 'system') {
    const system = (SystemEntryKind[kind.value.kind] ?? String(kind.value.kind)).replace(
      /^SYSTEM_ENTRY_KIND_/,
      '',
    );
    return `${at} system: ${system} (${kind.value.payloadType})`;
  }
  if (kind?.$case === 'entriesDropped') {
    const { firstSequence, lastSequence, droppedCount } = kind.value;
    return `${at} notice: the inbox was full, ${droppedCount} entries of #${firstSequence} to #${lastSequence} were dropped`;
  }
  return `${at} entry of a kind this CLI does not know (${entry.serverMessageId})`;
}
