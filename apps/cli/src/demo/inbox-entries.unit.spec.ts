import { EnvelopeType, type InboxEntry, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { describe, expect, it } from 'vitest';
import { demoContent } from './demo-messages';
import { newDeviceKeys } from './device-keys';
import { describeEntry, namesFromProfiles } from './inbox-entries';
import type { Profile } from './profiles';

const profile = (name: string, accountId: string, deviceId: number): Profile => ({
  name,
  server: '127.0.0.1:50051',
  accountId,
  deviceId,
  primary: deviceId === 1,
  phoneNumber: '',
  keys: newDeviceKeys(),
  lastSequence: 0,
});
const nameOf = namesFromProfiles([
  profile('alice', 'A', 1),
  profile('alice-laptop', 'A', 2),
  profile('bob', 'B', 1),
]);
const entry = (sequence: number, content: InboxEntry['content']): InboxEntry => ({
  serverMessageId: `id-${sequence}`,
  sequence,
  appendedAt: undefined,
  content,
});
const message = (sender: string, senderDevice: number, recipient: string, content: Buffer) => ({
  senderAccountId: sender,
  senderDeviceId: senderDevice,
  recipientAccountId: recipient,
  serverTimestamp: undefined,
  type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
  content,
});

describe('printing inbox entries', () => {
  it('shows a message by its sending device, named by the profiles here, and its text', () => {
    const line = describeEntry(
      entry(3, { $case: 'message', value: message('B', 1, 'A', demoContent('hi')) }),
      { accountId: 'A' },
      nameOf,
    );

    expect(line).toBe('#3 from B/1 (bob): hi');
  });

  it('names the recipient of a copy of what another own device sent', () => {
    const line = describeEntry(
      entry(4, { $case: 'message', value: message('A', 1, 'B', demoContent('hello')) }),
      { accountId: 'A' },
      nameOf,
    );

    expect(line).toBe('#4 from A/1 (alice) to B (bob): hello');
  });

  it('leaves out names it does not know, and says when content is no demo text', () => {
    const line = describeEntry(
      entry(5, { $case: 'message', value: message('C', 7, 'A', Buffer.from([1, 2, 3])) }),
      { accountId: 'A' },
      nameOf,
    );

    expect(line).toBe('#5 from C/7: <3 bytes that are not a demo message>');
  });

  it('shows a receipt, a system entry and a drop notice', () => {
    const me = { accountId: 'A' };
    const receipt = entry(6, {
      $case: 'receipt',
      value: {
        recipientAccountId: 'B',
        recipientDeviceId: 3,
        serverMessageIds: ['m1', 'm2'],
        deliveredAt: undefined,
      },
    });
    const system = entry(7, {
      $case: 'system',
      value: {
        kind: SystemEntryKind.SYSTEM_ENTRY_KIND_DEVICE_LIST_CHANGED,
        sourceEventId: 'e1',
        payloadType: 'tandem.linking.v1.DeviceListEvent',
        payload: Buffer.alloc(0),
      },
    });
    const dropped = entry(8, {
      $case: 'entriesDropped',
      value: { firstSequence: 1, lastSequence: 5, droppedCount: 4 },
    });

    expect(describeEntry(receipt, me, nameOf)).toBe('#6 receipt: B/3 (bob) received m1, m2');
    expect(describeEntry(system, me, nameOf)).toBe(
      '#7 system: DEVICE_LIST_CHANGED (tandem.linking.v1.DeviceListEvent)',
    );
    expect(describeEntry(dropped, me, nameOf)).toBe(
      '#8 notice: the inbox was full, 4 entries of #1 to #5 were dropped',
    );
  });
});
