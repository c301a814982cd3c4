import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { AccountEvent } from '@tandem/contracts/tandem/accounts/v1/events';
import { BackupFrequency, LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import type { SubscribeResponse } from '@tandem/contracts/tandem/presence/v1/presence_service';
import { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import { EmbeddedDocumentStore } from '@tandem/documents';
import type { EventMetadata } from '@tandem/event-sourcing';
import { EmbeddedEventLog } from '@tandem/messaging';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PresencePrivacy } from './presence-privacy.projection';
import type { AccountDomainEvent } from './presence.codecs';
import { PresenceBook } from './presence-book';
import { PresenceSubscriptions } from './presence-subscriptions';
import { TypingIndicators } from './typing-indicators';

const alice = 'account-alice';
const bob = 'account-bob';
const carol = 'account-carol';
const t0 = new Date('2026-11-25T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const minute = 60_000;

/** A SettingsUpdated of `accountId` at account version `version`. */
const settings = (accountId: string, visibility: LastSeenVisibility, version: number) => ({
  event: {
    $case: 'settingsUpdated',
    value: {
      accountId,
      lastSeenVisibility: visibility,
      backupFrequency: BackupFrequency.BACKUP_FREQUENCY_OFF,
      backupWifiOnly: false,
      backupIncludeVideos: false,
      byDeviceId: 1,
    },
  } satisfies AccountEvent['event'] as AccountDomainEvent,
  metadata: { aggregateVersion: version } as EventMetadata,
});

/** What a subscription sent of one item, named by its case: `{ snapshot }`, `{ presence }` or `{ typing }`. */
type SentItem = Partial<{
  [Case in NonNullable<SubscribeResponse['item']>['$case']]: Extract<
    NonNullable<SubscribeResponse['item']>,
    { $case: Case }
  >['value'];
}>;

/** A sink that keeps what a subscription sent. */
function aSink() {
  const items: SentItem[] = [];
  const errors: unknown[] = [];
  return {
    items,
    errors,
    next: ({ item }: SubscribeResponse) => items.push(item ? { [item.$case]: item.value } : {}),
    error: (e: unknown) => errors.push(e),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('presence subscriptions', () => {
  let dataDir: string;
  let documents: EmbeddedDocumentStore;
  let log: EmbeddedEventLog;
  let now: Date;
  let book: PresenceBook;
  let privacy: PresencePrivacy;
  let typing: TypingIndicators;
  let subscriptions: PresenceSubscriptions;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-presence-'));
    documents = new EmbeddedDocumentStore({ dataDir });
    log = new EmbeddedEventLog({ dataDir });
    book = new PresenceBook(
      async () => undefined,
      () => now,
      {
        heartbeatTimeoutMs: minute,
        instanceGraceMs: minute,
        forgetInstancesAfterMs: 10 * minute,
      },
    );
    privacy = new PresencePrivacy(
      documents.collection('visibility'),
      documents.collection('contacts'),
      documents.collection('blocks'),
    );
    typing = new TypingIndicators({
      log,
      topic: 'tandem.presence.typing',
      clock: () => now,
      typingMs: 5_000,
      onUpdate: (update) => subscriptions.typingChanged(update),
    });
    subscriptions = new PresenceSubscriptions(book, typing, privacy, () => undefined);
    book.onChange((presence) => subscriptions.presenceChanged(presence));
    // Bob and Carol were online on heartbeats until at(10).
    now = at(10);
    book.heartbeat(bob, 1);
    book.heartbeat(carol, 1);
    now = at(100);
    book.sweep();
  });

  afterEach(async () => {
    await subscriptions.endAll();
    await log.close();
    await documents.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const open = async (viewer: string, accountIds: string[]) => {
    const sink = aSink();
    const close = subscriptions.open(viewer, 1, accountIds, sink);
    await settle();
    return { ...sink, close };
  };

  describe('given Bob shows last seen to everyone and Carol to nobody', () => {
    beforeEach(async () => {
      await privacy.apply(settings(carol, LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY, 2));
    });

    it('sends a snapshot first: Bob offline with last seen, Carol without', async () => {
      const alices = await open(alice, [bob, carol]);
      expect(alices.items).toEqual([
        {
          snapshot: {
            presences: [
              {
                accountId: bob,
                online: false,
                lastSeen: at(10),
                lastSeenHidden: false,
              },
              { accountId: carol, online: false, lastSeen: undefined, lastSeenHidden: true },
            ],
            typing: [],
          },
        },
      ]);
    });

    it('shows Carol her own last seen', async () => {
      const carols = await open(carol, [carol]);
      expect(carols.items[0]?.snapshot?.presences[0]).toMatchObject({ lastSeenHidden: false });
      expect(carols.items[0]?.snapshot?.presences[0]?.lastSeen).toBeTruthy();
    });

    it('sends each change of what Alice may see, and nothing for what she may not', async () => {
      const alices = await open(alice, [bob]);
      book.heartbeat(bob, 2);
      book.heartbeat(carol, 1);
      book.heartbeat(bob, 3);
      expect(alices.items.slice(1)).toEqual([
        { presence: { accountId: bob, online: true, lastSeen: undefined, lastSeenHidden: false } },
      ]);
    });

    it("hides Bob's last seen as soon as he shows it to nobody", async () => {
      const alices = await open(alice, [bob]);
      await privacy.apply(settings(bob, LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY, 2));
      await subscriptions.visibilityChanged(bob);
      expect(alices.items.slice(1)).toEqual([
        { presence: { accountId: bob, online: false, lastSeen: undefined, lastSeenHidden: true } },
      ]);
    });

    it('passes over a settings event read again', async () => {
      expect(
        await privacy.apply(settings(carol, LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE, 1)),
      ).toBeUndefined();
      const alices = await open(alice, [carol]);
      expect(alices.items[0]?.snapshot?.presences[0]?.lastSeenHidden).toBe(true);
    });
  });

  describe('given Bob shows last seen to his contacts', () => {
    beforeEach(async () => {
      await privacy.apply(settings(bob, LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS, 2));
    });

    it('hides it from Alice until they exchange a message', async () => {
      const alices = await open(alice, [bob]);
      expect(alices.items[0]?.snapshot?.presences[0]?.lastSeenHidden).toBe(true);
      const learned = await privacy.learnContacts([[bob, alice]]);
      expect(learned).toEqual([[alice, bob]]);
      await subscriptions.pairsChanged(learned);
      expect(alices.items.slice(1).map((item) => item.presence?.lastSeenHidden)).toEqual([false]);
      expect(await privacy.learnContacts([[alice, bob]])).toEqual([]);
    });

    it('shows it to contacts learned before, after a restart too', async () => {
      await privacy.learnContacts([[alice, bob]]);
      const restarted = new PresencePrivacy(
        documents.collection('visibility'),
        documents.collection('contacts'),
        documents.collection('blocks'),
      );
      expect(await restarted.sightsOf(alice, [bob, carol])).toEqual(
        new Map([
          [bob, 'all'],
          [carol, 'all'],
        ]),
      );
      expect((await restarted.sightsOf(carol, [bob])).get(bob)).toBe('online');
    });
  });

  describe('when Bob blocks Alice', () => {
    const block = (blocked: boolean, version: number) => ({
      event: (blocked
        ? { $case: 'accountBlocked', value: { accountId: bob, blockedAccountId: alice, byDeviceId: 1 } }
        : {
            $case: 'accountUnblocked',
            value: { accountId: bob, unblockedAccountId: alice, byDeviceId: 1 },
          }) satisfies AccountEvent['event'] as AccountDomainEvent,
      metadata: { aggregateVersion: version } as EventMetadata,
    });
    const typingToAlice = {
      accountId: bob,
      chatAccountId: alice,
      state: TypingState.TYPING_STATE_TYPING,
      expiresAt: at(105),
    };
    const hidden = { accountId: bob, online: false, lastSeen: undefined, lastSeenHidden: true };

    it('shows each of them the other offline, last seen hidden, without typing, until he unblocks her', async () => {
      book.heartbeat(alice, 1);
      book.heartbeat(bob, 1);
      const alices = await open(alice, [bob]);
      const bobs = await open(bob, [alice]);
      expect(alices.items[0]?.snapshot?.presences[0]).toMatchObject({ online: true });

      const change = await privacy.apply(block(true, 3));
      expect(change).toEqual({ between: [bob, alice] });
      await subscriptions.pairsChanged([(change as { between: [string, string] }).between]);
      subscriptions.typingChanged(typingToAlice);
      book.heartbeat(bob, 2);
      expect(alices.items.slice(1)).toEqual([{ presence: hidden }]);
      expect(bobs.items.slice(1)).toEqual([{ presence: { ...hidden, accountId: alice } }]);
      expect((await open(alice, [bob])).items[0]?.snapshot?.presences).toEqual([hidden]);
      expect(await privacy.apply(block(true, 3))).toBeUndefined();

      await privacy.apply(block(false, 4));
      await subscriptions.pairsChanged([[bob, alice]]);
      subscriptions.typingChanged(typingToAlice);
      expect(alices.items.slice(2)).toEqual([
        { presence: { ...hidden, online: true, lastSeenHidden: false } },
        { typing: expect.objectContaining({ accountId: bob, chatAccountId: alice }) },
      ]);
    });
  });

  describe('when Bob types', () => {
    it('tells the subscriptions of the chat he types in that watch him, and no others', async () => {
      const alices = await open(alice, [bob]);
      const alicesOfCarol = await open(alice, [carol]);
      const carols = await open(carol, [bob]);
      subscriptions.typingChanged({
        accountId: bob,
        chatAccountId: alice,
        state: TypingState.TYPING_STATE_TYPING,
        expiresAt: at(105),
      });
      expect(alices.items.slice(1)).toEqual([
        {
          typing: {
            accountId: bob,
            chatAccountId: alice,
            state: TypingState.TYPING_STATE_TYPING,
            expiresAt: at(105),
          },
        },
      ]);
      expect(alicesOfCarol.items.slice(1)).toEqual([]);
      expect(carols.items.slice(1)).toEqual([]);
    });
  });

  describe('when a subscription ends', () => {
    it('is sent nothing more once the client went away', async () => {
      const alices = await open(alice, [bob]);
      alices.close();
      book.heartbeat(bob, 2);
      expect(alices.items).toHaveLength(1);
      expect(subscriptions.size).toBe(0);
    });

    it('ends with UNAVAILABLE when the server shuts down, and refuses new ones', async () => {
      const alices = await open(alice, [bob]);
      await subscriptions.endAll();
      const late = await open(alice, [bob]);
      for (const { errors } of [alices, late]) {
        expect(errors).toEqual([expect.objectContaining({ code: status.UNAVAILABLE })]);
      }
      expect(late.items).toEqual([]);
    });
  });
});
