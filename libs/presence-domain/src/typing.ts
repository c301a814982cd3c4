/**
 * Typing indicators: who types or records in which chat, for the few seconds it holds. Nothing
 * here is stored beyond the short-lived typing topic.
 * Invariants:
 * - a device says typing, recording or stopped in its chat with another account, never its own;
 * - TYPING and RECORDING end by themselves `typingMs` after they were said unless said again;
 * - per account and chat the newest word counts: a stop from any device of the account ends it,
 *   an older word (read late) changes nothing, and one that already ended is passed over;
 * - subscribers hear of a change of state, not of each renewal.
 */
import type { TypingChanged } from '@tandem/contracts/tandem/presence/v1/events';
import { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import { invalidArgument } from '@tandem/decider';

export interface SetTyping {
  readonly type: 'SetTyping';
  readonly accountId: string;
  readonly deviceId: number;
  readonly chatAccountId: string;
  readonly state: TypingState;
  readonly now: Date;
  readonly typingMs: number;
}

/** A typing or recording that holds. */
export interface TypingIndicator {
  readonly accountId: string;
  readonly deviceId: number;
  readonly chatAccountId: string;
  readonly state: TypingState.TYPING_STATE_TYPING | TypingState.TYPING_STATE_RECORDING;
  readonly at: Date;
  readonly expiresAt: Date;
}

/** What a chat's subscriber is told: typing or recording until `expiresAt`, or stopped. */
export interface TypingUpdate {
  readonly accountId: string;
  readonly chatAccountId: string;
  readonly state: TypingState;
  readonly expiresAt?: Date;
}

/** The indicators that hold, by `typingKey`. */
export type TypingBoard = ReadonlyMap<string, TypingIndicator>;

export const typingKey = (accountId: string, chatAccountId: string): string =>
  `${accountId}>${chatAccountId}`;

export const emptyTypingBoard = (): TypingBoard => new Map();

const MAX_ACCOUNT_ID_LENGTH = 64;

/** Checks a SetTyping and says what to record. */
export function decideTyping(command: SetTyping): TypingChanged {
  const { chatAccountId, state } = command;
  if (chatAccountId === '' || chatAccountId.length > MAX_ACCOUNT_ID_LENGTH) {
    throw invalidArgument(
      'chat_account_id',
      `must be an account id of 1 to ${MAX_ACCOUNT_ID_LENGTH} characters`,
    );
  }
  if (chatAccountId === command.accountId) {
    throw invalidArgument('chat_account_id', "must be another account than the caller's");
  }
  const holds = state === TypingState.TYPING_STATE_TYPING || state === TypingState.TYPING_STATE_RECORDING;
  if (!holds && state !== TypingState.TYPING_STATE_STOPPED) {
    throw invalidArgument('state', 'must be TYPING, RECORDING or STOPPED');
  }
  return {
    accountId: command.accountId,
    deviceId: command.deviceId,
    chatAccountId,
    state,
    at: command.now,
    expiresAt: holds ? new Date(command.now.getTime() + command.typingMs) : undefined,
  };
}

const toUpdate = (indicator: TypingIndicator): TypingUpdate => ({
  accountId: indicator.accountId,
  chatAccountId: indicator.chatAccountId,
  state: indicator.state,
  expiresAt: indicator.expiresAt,
});

const stopped = (accountId: string, chatAccountId: string): TypingUpdate => ({
  accountId,
  chatAccountId,
  state: TypingState.TYPING_STATE_STOPPED,
});

/** Applies a recorded TypingChanged at `now`; `update` is what the chat's subscriber is told, if anything. */
export function applyTyping(
  board: TypingBoard,
  change: TypingChanged,
  now: Date,
): { board: TypingBoard; update?: TypingUpdate } {
  const key = typingKey(change.accountId, change.chatAccountId);
  const current = board.get(key);
  const at = change.at ?? now;
  if (current && current.at.getTime() > at.getTime()) return { board };
  if (change.state === TypingState.TYPING_STATE_STOPPED) {
    if (!current) return { board };
    const next = new Map(board);
    next.delete(key);
    return { board: next, update: stopped(change.accountId, change.chatAccountId) };
  }
  if (
    change.state !== TypingState.TYPING_STATE_TYPING &&
    change.state !== TypingState.TYPING_STATE_RECORDING
  ) {
    return { board };
  }
  if (!change.expiresAt || change.expiresAt.getTime() <= now.getTime()) return { board };
  const indicator: TypingIndicator = {
    accountId: change.accountId,
    deviceId: change.deviceId,
    chatAccountId: change.chatAccountId,
    state: change.state,
    at,
    expiresAt: change.expiresAt,
  };
  const next = new Map(board);
  next.set(key, indicator);
  return current?.state === indicator.state ? { board: next } : { board: next, update: toUpdate(indicator) };
}

/** Ends the indicators whose time passed by `now`. */
export function expireTyping(board: TypingBoard, now: Date): { board: TypingBoard; ended: TypingUpdate[] } {
  const ended: TypingUpdate[] = [];
  let next: Map<string, TypingIndicator> | undefined;
  for (const [key, indicator] of board) {
    if (indicator.expiresAt.getTime() > now.getTime()) continue;
    next ??= new Map(board);
    next.delete(key);
    ended.push(stopped(indicator.accountId, indicator.chatAccountId));
  }
  return { board: next ?? board, ended };
}

/** What `accounts` type or record in their chats with `chatAccountId` right now. */
export function typingInChat(
  board: TypingBoard,
  chatAccountId: string,
  accounts: readonly string[],
): TypingUpdate[] {
  return accounts.flatMap((accountId) => {
    const indicator = board.get(typingKey(accountId, chatAccountId));
    return indicator ? [toUpdate(indicator)] : [];
  });
}
