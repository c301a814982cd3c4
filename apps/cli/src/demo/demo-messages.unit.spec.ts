import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';
import { describe, expect, it } from 'vitest';
import { demoContent, demoSendRequest, demoText } from './demo-messages';

const list = (accountId: string, listVersion: number, deviceIds: number[]): GetDeviceListResponse => ({
  accountId,
  listVersion,
  devices: deviceIds.map((deviceId) => ({
    deviceId,
    identityKey: Buffer.alloc(32, deviceId),
    registrationId: 100 + deviceId,
  })),
  listHash: '',
  listSignature: Buffer.alloc(0),
  signedListVersion: listVersion,
});

const alice = list('alice', 3, [1, 2, 3]);
const bob = list('bob', 7, [1, 4]);
const covered = (request: ReturnType<typeof demoSendRequest>) =>
  request.envelopes.map((envelope) => `${envelope.accountId}/${envelope.deviceId}`);

describe('building a demo message', () => {
  it('has one envelope per recipient device and per other device of the sender, for the recipient list version', () => {
    const request = demoSendRequest({
      sender: { accountId: 'alice', deviceId: 2 },
      recipientList: bob,
      ownList: alice,
      clientMessageId: 'm-1',
      text: 'hello',
    });

    expect(request.recipientAccountId).toBe('bob');
    expect(request.clientMessageId).toBe('m-1');
    expect(request.recipientListVersion).toBe(7);
    expect(covered(request)).toEqual(['bob/1', 'bob/4', 'alice/1', 'alice/3']);
    expect(request.envelopes.map((envelope) => envelope.registrationId)).toEqual([101, 104, 101, 103]);
    for (const envelope of request.envelopes) {
      expect(envelope.type).toBe(EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT);
      expect(demoText(envelope.content)).toBe('hello');
    }
  });

  it('covers only the other devices of the sender for a note to self', () => {
    const request = demoSendRequest({
      sender: { accountId: 'alice', deviceId: 1 },
      recipientList: alice,
      ownList: alice,
      clientMessageId: 'm-2',
      text: 'note',
    });

    expect(request.recipientListVersion).toBe(3);
    expect(covered(request)).toEqual(['alice/2', 'alice/3']);
  });

  it('marks its content as a demo, readable as JSON', () => {
    expect(JSON.parse(demoContent('grüß dich ✓').toString('utf8'))).toEqual({
      demo: true,
      text: 'grüß dich ✓',
    });
  });

  it.each([
    ['ciphertext', Buffer.from([0x33, 0x08, 0xff, 0x00])],
    ['JSON without the demo mark', Buffer.from(JSON.stringify({ text: 'hello' }))],
    ['a JSON value that is no object', Buffer.from('"hello"')],
  ])('reads no text from %s', (_case, content) => {
    expect(demoText(content)).toBeUndefined();
  });
});
