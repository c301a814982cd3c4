import { EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import { type DomainError, fold, isDomainError } from '@tandem/decider';
import { deciderSpecification } from '@tandem/testing';
import { describe, expect, it } from 'vitest';
import {
  type AcceptMessage,
  type DeviceList,
  type FanoutDomainEvent,
  MESSAGE_LIMITS,
  messageDecider,
  messageStreamId,
  type OutgoingEnvelope,
} from './message.decider';

const spec = deciderSpecification(messageDecider);

const alice = 'account-alice';
const bob = 'account-bob';
const now = new Date('2026-11-25T12:00:00.000Z');
const KiB = 1024;

/** Alice sends from her phone (device 1); she has two companions. */
const alicesDevices: DeviceList = {
  listVersion: 3,
  devices: [
    { deviceId: 1, registrationId: 101 },
    { deviceId: 2, registrationId: 102 },
    { deviceId: 3, registrationId: 103 },
  ],
};

/** Bob's device 3 was unlinked, so his list is 1, 2 and 4. */
const bobsDevices: DeviceList = {
  listVersion: 5,
  devices: [
    { deviceId: 1, registrationId: 201 },
    { deviceId: 2, registrationId: 202 },
    { deviceId: 4, registrationId: 204 },
  ],
};

const sealed = (
  accountId: string,
  deviceId: number,
  registrationId: number,
  bytes = 16,
): OutgoingEnvelope => ({
  accountId,
  deviceId,
  registrationId,
  type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
  content: Buffer.alloc(bytes, deviceId),
});

const toBob = [sealed(bob, 1, 201), sealed(bob, 2, 202), sealed(bob, 4, 204)];
const syncCopies = [sealed(alice, 2, 102), sealed(alice, 3, 103)];

function acceptMessage(overrides: Partial<AcceptMessage> = {}): AcceptMessage {
  return {
    type: 'AcceptMessage',
    sender: { accountId: alice, deviceId: 1 },
    recipientAccountId: bob,
    clientMessageId: 'client-1',
    recipientListVersion: 5,
    envelopes: [...toBob, ...syncCopies],
    recipient: { status: 'active', ...bobsDevices },
    senderDevices: alicesDevices,
    blocks: { recipientBlocksSender: false, senderBlocksRecipient: false },
    serverMessageId: 'server-1',
    now,
    ...overrides,
  };
}

/**
 * What the decider records for `command`: MessageAccepted with the recipient's envelopes and, when
 * the sender has other devices and writes to someone else, SentMessageSynced with its sync copies;
 * each ascending by device id.
 */
function accepted(
  command: AcceptMessage,
  envelopes: readonly OutgoingEnvelope[],
  recipientListVersion = 5,
): FanoutDomainEvent[] {
  const of = (accountId: string) =>
    envelopes
      .filter((envelope) => envelope.accountId === accountId)
      .sort((a, b) => a.deviceId - b.deviceId)
      .map((envelope) => ({ ...envelope, content: Buffer.from(envelope.content) }));
  const events: FanoutDomainEvent[] = [
    {
      $case: 'messageAccepted',
      value: {
        accountId: command.recipientAccountId,
        serverMessageId: command.serverMessageId,
        serverTimestamp: command.now,
        senderAccountId: command.sender.accountId,
        senderDeviceId: command.sender.deviceId,
        clientMessageId: command.clientMessageId,
        recipientListVersion,
        envelopes: of(command.recipientAccountId),
      },
    },
  ];
  const syncCopies = of(command.sender.accountId);
  if (command.recipientAccountId !== command.sender.accountId && syncCopies.length > 0) {
    events.push({
      $case: 'sentMessageSynced',
      value: {
        accountId: command.sender.accountId,
        serverMessageId: command.serverMessageId,
        serverTimestamp: command.now,
        senderDeviceId: command.sender.deviceId,
        recipientAccountId: command.recipientAccountId,
        envelopes: syncCopies,
      },
    });
  }
  return events;
}

const refusal = (command: AcceptMessage, given: readonly FanoutDomainEvent[] = []): DomainError => {
  try {
    messageDecider.decide(command, fold(messageDecider, given));
  } catch (error) {
    if (isDomainError(error)) return error;
    throw error;
  }
  throw new Error('expected the command to be refused');
};

describe('the message decider', () => {
  describe("when the envelopes cover the recipient and the sender's other devices", () => {
    it("records MessageAccepted for the recipient and SentMessageSynced for the sender's other devices", () => {
      const command = acceptMessage({
        envelopes: [syncCopies[1], toBob[2], syncCopies[0], toBob[0], toBob[1]],
      });
      spec
        .given([])
        .when(command)
        .then(accepted(command, [...toBob, ...syncCopies]));
    });

    it('needs no sync copies when the sender has no other devices', () => {
      const command = acceptMessage({
        envelopes: toBob,
        senderDevices: { listVersion: 1, devices: [{ deviceId: 1, registrationId: 101 }] },
      });
      spec.given([]).when(command).then(accepted(command, toBob));
    });

    it('accepts a companion sending, with a sync copy for the primary', () => {
      const fromCompanion = [sealed(alice, 1, 101), sealed(alice, 3, 103)];
      const command = acceptMessage({
        sender: { accountId: alice, deviceId: 2 },
        envelopes: [...toBob, ...fromCompanion],
      });
      spec
        .given([])
        .when(command)
        .then(accepted(command, [...toBob, ...fromCompanion]));
    });

    it("accepts the recipient's list version the server has, even if the sender named an older one", () => {
      const command = acceptMessage({ recipientListVersion: 4 });
      spec
        .given([])
        .when(command)
        .then(accepted(command, [...toBob, ...syncCopies]));
    });
  });

  describe('when the sender writes a note to self', () => {
    const noteToSelf = (envelopes: OutgoingEnvelope[]) =>
      acceptMessage({
        recipientAccountId: alice,
        recipientListVersion: 3,
        recipient: { status: 'active', ...alicesDevices },
        envelopes,
      });

    it("covers the sender's other devices only", () => {
      const command = noteToSelf(syncCopies);
      spec
        .given([])
        .when(command)
        .then(accepted(command, syncCopies, 3));
    });

    it('refuses an envelope for the sending device itself as extra', () => {
      const command = noteToSelf([sealed(alice, 1, 101), ...syncCopies]);
      spec
        .given([])
        .when(command)
        .thenThrows('failed-precondition', /extra 1/);
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: alice, listVersion: 3, missingDeviceIds: [], extraDeviceIds: [1], staleDeviceIds: [] },
        ],
      });
    });

    it('refuses a note missing one of the other devices', () => {
      spec
        .given([])
        .when(noteToSelf([syncCopies[0]]))
        .thenThrows('failed-precondition', /account account-alice at list version 3: missing 3/);
    });
  });

  describe('when the envelopes do not cover exactly the devices', () => {
    it('refuses a message missing a recipient device and records nothing', () => {
      const command = acceptMessage({ envelopes: [toBob[0], toBob[2], ...syncCopies] });
      spec
        .given([])
        .when(command)
        .thenThrows('failed-precondition', /account account-bob at list version 5: missing 2.*encrypt again/);
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: bob, listVersion: 5, missingDeviceIds: [2], extraDeviceIds: [], staleDeviceIds: [] },
        ],
      });
    });

    it('refuses an envelope for an unlinked device as extra', () => {
      const command = acceptMessage({ envelopes: [...toBob, sealed(bob, 3, 203), ...syncCopies] });
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: bob, listVersion: 5, missingDeviceIds: [], extraDeviceIds: [3], staleDeviceIds: [] },
        ],
      });
    });

    it('refuses an envelope for another registration id than the device has as stale', () => {
      const command = acceptMessage({ envelopes: [toBob[0], sealed(bob, 2, 999), toBob[2], ...syncCopies] });
      spec
        .given([])
        .when(command)
        .thenThrows('failed-precondition', /stale 2/);
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: bob, listVersion: 5, missingDeviceIds: [], extraDeviceIds: [], staleDeviceIds: [2] },
        ],
      });
    });

    it('names missing, extra and stale devices at once', () => {
      const command = acceptMessage({
        envelopes: [sealed(bob, 2, 999), sealed(bob, 3, 203), sealed(bob, 5, 205), ...syncCopies],
      });
      spec
        .given([])
        .when(command)
        .thenThrows('failed-precondition', /missing 1, 4; extra 3, 5; stale 2/);
      expect(refusal(command).details).toEqual({
        accounts: [
          {
            accountId: bob,
            listVersion: 5,
            missingDeviceIds: [1, 4],
            extraDeviceIds: [3, 5],
            staleDeviceIds: [2],
          },
        ],
      });
    });

    it("refuses a message without a sync copy for one of the sender's other devices", () => {
      const command = acceptMessage({ envelopes: [...toBob, syncCopies[0]] });
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: alice, listVersion: 3, missingDeviceIds: [3], extraDeviceIds: [], staleDeviceIds: [] },
        ],
      });
    });

    it('refuses a sync copy for the sending device as extra', () => {
      const command = acceptMessage({ envelopes: [...toBob, sealed(alice, 1, 101), ...syncCopies] });
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: alice, listVersion: 3, missingDeviceIds: [], extraDeviceIds: [1], staleDeviceIds: [] },
        ],
      });
    });

    it("names both accounts, the recipient's first, when both differ", () => {
      const command = acceptMessage({
        envelopes: [toBob[0], toBob[1], sealed(alice, 2, 999), syncCopies[1]],
      });
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: bob, listVersion: 5, missingDeviceIds: [4], extraDeviceIds: [], staleDeviceIds: [] },
          { accountId: alice, listVersion: 3, missingDeviceIds: [], extraDeviceIds: [], staleDeviceIds: [2] },
        ],
      });
    });

    it('says to retry when the sender encrypted for a newer list than the server has seen', () => {
      const command = acceptMessage({
        recipientListVersion: 6,
        envelopes: [...toBob, sealed(bob, 5, 205), ...syncCopies],
      });
      spec
        .given([])
        .when(command)
        .thenThrows(
          'failed-precondition',
          /not seen device list version 6 of the recipient yet: retry shortly/,
        );
      expect(refusal(command).details).toEqual({
        accounts: [
          { accountId: bob, listVersion: 5, missingDeviceIds: [], extraDeviceIds: [5], staleDeviceIds: [] },
        ],
      });
    });
  });

  describe('when the recipient cannot receive', () => {
    it('refuses an account that does not exist as not found', () => {
      spec
        .given([])
        .when(acceptMessage({ recipient: { status: 'unknown' } }))
        .thenThrows('not-found', /no account account-bob/);
    });

    it('refuses a deleted account as a failed precondition', () => {
      spec
        .given([])
        .when(acceptMessage({ recipient: { status: 'deleted' } }))
        .thenThrows('failed-precondition', /account-bob was deleted/);
    });

    it("refuses a recipient that blocks the sender's account as a failed precondition", () => {
      spec
        .given([])
        .when(acceptMessage({ blocks: { recipientBlocksSender: true, senderBlocksRecipient: false } }))
        .thenThrows('failed-precondition', /account-bob blocks messages from this account/);
    });

    it("refuses a recipient the sender's account blocks until it unblocks it", () => {
      spec
        .given([])
        .when(acceptMessage({ blocks: { recipientBlocksSender: false, senderBlocksRecipient: true } }))
        .thenThrows('failed-precondition', /blocks account-bob; unblock it to send/);
    });
  });

  describe('when the message is at or over the size limits', () => {
    /** Bob with three devices and Alice with one other: four envelopes of `bytes` each. */
    const ofSize = (bytes: number, last = bytes) =>
      acceptMessage({
        envelopes: [
          sealed(bob, 1, 201, bytes),
          sealed(bob, 2, 202, bytes),
          sealed(bob, 4, 204, bytes),
          sealed(alice, 2, 102, last),
        ],
        senderDevices: { listVersion: 2, devices: alicesDevices.devices.slice(0, 2) },
      });

    /** The ciphertext sizes of the accepted message (comparing large buffers byte by byte is slow). */
    const acceptedSizes = (command: AcceptMessage): number[][] => [
      messageDecider
        .decide(command, messageDecider.initialState())
        .flatMap((event) =>
          event.$case === 'messageAccepted' || event.$case === 'sentMessageSynced'
            ? event.value.envelopes.map((envelope) => envelope.content.length)
            : [],
        ),
    ];

    it('accepts a ciphertext of exactly 96 KiB', () => {
      expect(acceptedSizes(ofSize(16, MESSAGE_LIMITS.contentBytes))).toEqual([[16, 16, 16, 96 * KiB]]);
    });

    it('refuses a ciphertext of 96 KiB and one byte, naming the envelope', () => {
      const command = ofSize(16, 96 * KiB + 1);
      spec
        .given([])
        .when(command)
        .thenThrows('invalid-argument', /envelopes\[3\]\.content: must be at most 98304 bytes/);
      expect(refusal(command).field).toBe('envelopes[3].content');
    });

    it('accepts ciphertexts of exactly 256 KiB together', () => {
      expect(MESSAGE_LIMITS.totalContentBytes).toBe(4 * 64 * KiB);
      expect(acceptedSizes(ofSize(64 * KiB))).toEqual([[64 * KiB, 64 * KiB, 64 * KiB, 64 * KiB]]);
    });

    it('refuses ciphertexts over 256 KiB together, each within 96 KiB', () => {
      const command = ofSize(64 * KiB, 64 * KiB + 1);
      spec
        .given([])
        .when(command)
        .thenThrows(
          'invalid-argument',
          /envelopes: ciphertexts must be at most 262144 bytes \(256 KiB\) together, are 262145/,
        );
    });
  });

  describe('when the request is malformed', () => {
    it.each<[string, Partial<AcceptMessage>, string]>([
      ['no recipient', { recipientAccountId: '' }, 'recipient_account_id'],
      ['no client message id', { clientMessageId: '' }, 'client_message_id'],
      ['a client message id of 65 characters', { clientMessageId: 'x'.repeat(65) }, 'client_message_id'],
      ['a client message id with a colon', { clientMessageId: 'a:b' }, 'client_message_id'],
      ['no envelopes', { envelopes: [] }, 'envelopes'],
      [
        'an empty ciphertext',
        { envelopes: [...toBob, sealed(alice, 2, 102, 0), syncCopies[1]] },
        'envelopes[3].content',
      ],
      [
        'device id 0',
        { envelopes: [sealed(bob, 0, 201), ...toBob.slice(1), ...syncCopies] },
        'envelopes[0].device_id',
      ],
      [
        'registration id 0',
        { envelopes: [sealed(bob, 1, 0), ...toBob.slice(1), ...syncCopies] },
        'envelopes[0].registration_id',
      ],
      [
        'registration id 16381',
        { envelopes: [...toBob, sealed(alice, 2, 16381), syncCopies[1]] },
        'envelopes[3].registration_id',
      ],
      [
        'an unspecified envelope type',
        {
          envelopes: [
            { ...toBob[0], type: EnvelopeType.ENVELOPE_TYPE_UNSPECIFIED },
            ...toBob.slice(1),
            ...syncCopies,
          ],
        },
        'envelopes[0].type',
      ],
      [
        'an envelope for a third account',
        { envelopes: [...toBob, ...syncCopies, sealed('account-carol', 1, 301)] },
        'envelopes[5].account_id',
      ],
      ['two envelopes for one device', { envelopes: [...toBob, toBob[1], ...syncCopies] }, 'envelopes[3]'],
    ])('refuses %s as an invalid argument', (_, overrides, field) => {
      const command = acceptMessage(overrides);
      spec.given([]).when(command).thenThrows('invalid-argument');
      expect(refusal(command).field).toBe(field);
    });

    it('accepts a UUID as client message id', () => {
      const command = acceptMessage({ clientMessageId: '9b2f1c4e-0d5a-4e7b-8f3a-2c6d1e0b7a95' });
      spec
        .given([])
        .when(command)
        .then(accepted(command, [...toBob, ...syncCopies]));
    });
  });

  describe('when the same message is sent again', () => {
    const first = acceptMessage();
    const given = accepted(first, [...toBob, ...syncCopies]);

    it('records nothing and keeps the first server message id and timestamp', () => {
      const retry = acceptMessage({ serverMessageId: 'server-2', now: new Date('2026-11-25T12:00:05.000Z') });
      spec.given(given).when(retry).thenNothingHappens();
      expect(fold(messageDecider, given)).toEqual({
        status: 'accepted',
        serverMessageId: 'server-1',
        serverTimestamp: now,
        recipientAccountId: bob,
      });
    });

    it('records nothing even when the device lists changed, the recipient was deleted or blocks since', () => {
      spec
        .given(given)
        .when(acceptMessage({ envelopes: toBob.slice(1), serverMessageId: 'server-2' }))
        .thenNothingHappens();
      spec
        .given(given)
        .when(acceptMessage({ recipient: { status: 'deleted' } }))
        .thenNothingHappens();
      spec
        .given(given)
        .when(acceptMessage({ blocks: { recipientBlocksSender: true, senderBlocksRecipient: true } }))
        .thenNothingHappens();
    });

    it('is one stream per sending device and client message id', () => {
      expect(messageStreamId(alice, 1, 'client-1')).toBe('message:account-alice:1:client-1');
      expect(messageStreamId(alice, 2, 'client-1')).not.toBe(messageStreamId(alice, 1, 'client-1'));
    });
  });

  describe('when other fanout events are folded', () => {
    it('leaves a message stream as it was', () => {
      const state = fold(messageDecider, [
        {
          $case: 'inboxAcked',
          value: {
            accountId: bob,
            deviceId: 1,
            serverMessageIds: ['server-1'],
            ackedAt: now,
            throughSequence: 0,
          },
        },
      ]);
      expect(state).toEqual({ status: 'none' });
    });
  });
});
