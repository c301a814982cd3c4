import type { TypingChanged } from '@tandem/contracts/tandem/presence/v1/events';
import { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import { isDomainError } from '@tandem/decider';
import { describe, expect, it } from 'vitest';
import {
  applyTyping,
  decideTyping,
  emptyTypingBoard,
  expireTyping,
  type SetTyping,
  type TypingBoard,
  typingInChat,
} from './typing';

const alice = 'account-alice';
const bob = 'account-bob';
const carol = 'account-carol';
const t0 = new Date('2026-11-25T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const typingMs = 5_000;
const {
  TYPING_STATE_TYPING: TYPING,
  TYPING_STATE_RECORDING: RECORDING,
  TYPING_STATE_STOPPED: STOPPED,
} = TypingState;

const setTyping = (state: TypingState, seconds = 0, overrides: Partial<SetTyping> = {}): SetTyping => ({
  type: 'SetTyping',
  accountId: bob,
  deviceId: 2,
  chatAccountId: alice,
  state,
  now: at(seconds),
  typingMs,
  ...overrides,
});

/** Bob's device 2 says `state` in the chat with Alice at `seconds`. */
const said = (state: TypingState, seconds: number, overrides: Partial<SetTyping> = {}): TypingChanged =>
  decideTyping(setTyping(state, seconds, overrides));

/** Given the changes applied at their own moments, when another comes at `seconds`. */
function given(changes: readonly TypingChanged[]) {
  const board = changes.reduce<TypingBoard>(
    (current, change) => applyTyping(current, change, change.at!).board,
    emptyTypingBoard(),
  );
  return {
    board,
    when: (change: TypingChanged, seconds: number) => applyTyping(board, change, at(seconds)),
  };
}

function refusal(command: SetTyping): { field?: string } {
  try {
    decideTyping(command);
  } catch (error) {
    if (isDomainError(error) && error.kind === 'invalid-argument') return { field: error.field };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('typing indicators', () => {
  describe('when a device says it types or records', () => {
    it('records it with its end typingMs later', () => {
      expect(decideTyping(setTyping(RECORDING, 1))).toEqual({
        accountId: bob,
        deviceId: 2,
        chatAccountId: alice,
        state: RECORDING,
        at: at(1),
        expiresAt: at(6),
      });
    });

    it('records a stop without an end', () => {
      expect(decideTyping(setTyping(STOPPED, 1)).expiresAt).toBeUndefined();
    });

    it('refuses an empty or own chat and an unspecified state', () => {
      expect(refusal(setTyping(TYPING, 0, { chatAccountId: '' }))).toEqual({ field: 'chat_account_id' });
      expect(refusal(setTyping(TYPING, 0, { chatAccountId: 'x'.repeat(65) }))).toEqual({
        field: 'chat_account_id',
      });
      expect(refusal(setTyping(TYPING, 0, { chatAccountId: bob }))).toEqual({ field: 'chat_account_id' });
      expect(refusal(setTyping(TypingState.TYPING_STATE_UNSPECIFIED))).toEqual({ field: 'state' });
      expect(refusal(setTyping(TypingState.UNRECOGNIZED))).toEqual({ field: 'state' });
    });
  });

  describe('given nobody types', () => {
    it('tells the chat that Bob types, until when', () => {
      expect(given([]).when(said(TYPING, 1), 1).update).toEqual({
        accountId: bob,
        chatAccountId: alice,
        state: TYPING,
        expiresAt: at(6),
      });
    });

    it('passes over a stop, and a typing that already ended when it is read', () => {
      expect(given([]).when(said(STOPPED, 1), 1)).toEqual({ board: emptyTypingBoard() });
      expect(given([]).when(said(TYPING, 1), 6).update).toBeUndefined();
      expect(given([]).when(said(TYPING, 1), 6).board.size).toBe(0);
    });
  });

  describe('given Bob types', () => {
    const typing = given([said(TYPING, 1)]);

    it('renews silently when he says it again', () => {
      const renewed = typing.when(said(TYPING, 4), 4);
      expect(renewed.update).toBeUndefined();
      expect(expireTyping(renewed.board, at(6)).ended).toEqual([]);
      expect(expireTyping(renewed.board, at(9)).ended).toHaveLength(1);
    });

    it('tells the chat when he switches to recording', () => {
      expect(typing.when(said(RECORDING, 2), 2).update).toMatchObject({ state: RECORDING, expiresAt: at(7) });
    });

    it('tells the chat when he stops, from any of his devices', () => {
      const stop = typing.when(said(STOPPED, 3, { deviceId: 1 }), 3);
      expect(stop.update).toEqual({ accountId: bob, chatAccountId: alice, state: STOPPED });
      expect(stop.board.size).toBe(0);
    });

    it('passes over an older word read late', () => {
      const late = given([said(TYPING, 5)]).when(said(STOPPED, 2), 5);
      expect(late.update).toBeUndefined();
      expect(late.board.size).toBe(1);
    });

    it('ends it by itself after typingMs without renewal', () => {
      expect(expireTyping(typing.board, at(5.9))).toEqual({ board: typing.board, ended: [] });
      const expired = expireTyping(typing.board, at(6));
      expect(expired.ended).toEqual([{ accountId: bob, chatAccountId: alice, state: STOPPED }]);
      expect(expired.board.size).toBe(0);
    });

    it('keeps chats apart', () => {
      const both = given([said(TYPING, 1), said(RECORDING, 1, { chatAccountId: carol })]).board;
      expect(typingInChat(both, alice, [bob, carol]).map((update) => update.state)).toEqual([TYPING]);
      expect(typingInChat(both, carol, [bob]).map((update) => update.state)).toEqual([RECORDING]);
      expect(typingInChat(both, alice, [carol])).toEqual([]);
    });
  });
});
